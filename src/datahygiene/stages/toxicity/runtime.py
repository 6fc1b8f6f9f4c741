"""Where the text transformers run: ONNX Runtime on CPU (exported once, cached), torch on GPU or without onnxruntime.

``runtime: auto`` picks ONNX Runtime fp32 on CPU when ``onnxruntime`` imports and torch otherwise (and always torch on
a GPU). ``onnx-int8`` adds onnxruntime's dynamic int8 quantisation: it is opt-in because on all-MiniLM-L6-v2 it moves
the toxicity scores by far more than :data:`INT8_TOLERANCE` (see docs/scoring.md), while fp32 ONNX agrees with torch
to ~1e-6. An exported model is cached under :func:`cache_root` in a folder keyed by the source weights' sha256, the
model kind and the exporter versions, so each model is exported once per machine; files are written to a temporary
name and renamed, so concurrent workers never read half a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from datahygiene.stages.weights import sha256_file

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

Runtime = Literal["auto", "onnx", "onnx-int8", "torch"]
#: Bumped when the export recipe changes, so old cache entries are not reused.
EXPORT_FORMAT = 1
OPSET = 17
#: The agreement ``onnx-int8`` would need to be chosen by ``auto``: largest change of a final score against torch fp32.
INT8_TOLERANCE = 0.02
#: Environment variable naming the cache folder (default ``$XDG_CACHE_HOME/datahygiene`` or ``~/.cache/datahygiene``).
CACHE_ENV = "DATAHYGIENE_CACHE_DIR"

#: Builds the torch module to export (keyword inputs named like the sample's keys, one tensor out) and a sample batch.
ModuleBuilder = Callable[[], "tuple[torch.nn.Module, dict[str, np.ndarray]]"]


class RuntimeUnavailableError(RuntimeError):
    """An ONNX runtime was asked for explicitly but its packages are not installed."""


def cache_root() -> Path:
    """The datahygiene cache folder: ``$DATAHYGIENE_CACHE_DIR``, else ``$XDG_CACHE_HOME/datahygiene``, else ~/.cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "datahygiene"


def onnx_available() -> bool:
    """True when onnxruntime can be imported (exporting a new model also needs the ``onnx`` package)."""
    return find_spec("onnxruntime") is not None


def resolve_runtime(requested: Runtime, device: str) -> Literal["onnx", "onnx-int8", "torch"]:
    """The runtime that will run: ``auto`` is torch on a GPU or without onnxruntime, else fp32 ONNX."""
    if requested == "torch":
        return "torch"
    if requested == "auto":
        return "onnx" if device == "cpu" and onnx_available() else "torch"
    if not onnx_available():
        raise RuntimeUnavailableError(f"runtime {requested!r} needs onnxruntime: pip install onnxruntime onnx")
    return requested


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "missing"


def cache_key(kind: str, source_sha256: str) -> str:
    """Hash of what decides an export's bytes: model kind, source weights, exporter and runtime versions."""
    parts = {
        "kind": kind,
        "source_sha256": source_sha256,
        "format": EXPORT_FORMAT,
        "opset": OPSET,
        "torch": _package_version("torch"),
        "transformers": _package_version("transformers"),
        "onnx": _package_version("onnx"),
        "onnxruntime": _package_version("onnxruntime"),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def export_onnx(module: torch.nn.Module, sample: Mapping[str, np.ndarray], path: Path) -> None:
    """Export ``module`` (keyword inputs named like ``sample``'s keys, one tensor out) with dynamic batch and length."""
    import torch

    names = list(sample)

    class Positional(torch.nn.Module):
        """The module with positional inputs, in the order the exporter passes them."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.inner(**dict(zip(names, args, strict=True)))
            return out

    axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "tokens"} for name in names}
    axes["output"] = {0: "batch"}
    inputs = tuple(torch.from_numpy(np.asarray(sample[name], dtype=np.int64)) for name in names)
    with torch.inference_mode():
        torch.onnx.export(
            Positional().eval(),
            inputs,
            str(path),
            input_names=names,
            output_names=["output"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def _write_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(tmp)`` for a temporary file beside ``target``, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        write(tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # per-channel int8 weights on the MatMuls: the variant that moved MiniLM's scores least (docs/scoring.md)
    quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])


def cached_onnx(
    kind: str, source_sha256: str, build: ModuleBuilder, int8: bool = False, cache: Path | None = None
) -> Path:
    """Path of the cached export of ``kind`` from weights ``source_sha256`` (int8 or fp32); exports on a miss."""
    folder = (cache or cache_root()) / "onnx" / f"{kind}-{cache_key(kind, source_sha256)[:20]}"
    fp32 = folder / "model.onnx"
    if not fp32.is_file():
        if find_spec("onnx") is None:
            raise RuntimeUnavailableError("exporting to ONNX needs the onnx package: pip install onnx")
        log.info("exporting %s to ONNX (once; cached in %s)", kind, folder)
        module, sample = build()
        _write_atomically(fp32, lambda tmp: export_onnx(module, sample, tmp))
        meta = {"kind": kind, "source_sha256": source_sha256, "opset": OPSET, "torch": _package_version("torch")}
        _write_atomically(folder / "meta.json", lambda tmp: _write_json(tmp, meta))
    if not int8:
        return fp32
    quantized = folder / "model.int8.onnx"
    if not quantized.is_file():
        log.info("quantising %s to int8 (once; cached in %s)", kind, folder)
        _write_atomically(quantized, lambda tmp: _quantize(fp32, tmp))
    return quantized


def default_threads() -> int:
    """CPU cores this process may use (its affinity mask)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class OnnxModel:
    """An onnxruntime CPU session over one exported model: ``model(features) -> first output`` as float32."""

    def __init__(self, path: Path, runtime: str, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [node.name for node in self.session.get_inputs()]
        self.path = path
        self.runtime = runtime
        self.sha256 = sha256_file(path)

    def __call__(self, features: Mapping[str, Any]) -> np.ndarray:
        """Run one padded batch (token arrays by input name; extra keys ignored)."""
        feeds = {name: np.asarray(features[name], dtype=np.int64) for name in self.input_names}
        return np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        """Runtime, ONNX file and its sha256, onnxruntime version (for the manifest)."""
        return {
            "runtime": self.runtime,
            "onnx_file": str(self.path),
            "onnx_sha256": self.sha256,
            "onnxruntime": _package_version("onnxruntime"),
        }


def load_onnx(
    runtime: Literal["onnx", "onnx-int8"], kind: str, source_sha256: str, build: ModuleBuilder, threads: int | None
) -> OnnxModel:
    """The cached (or freshly exported) model of ``kind`` as a ready session."""
    path = cached_onnx(kind, source_sha256, build, int8=runtime == "onnx-int8")
    return OnnxModel(path, runtime, threads)
