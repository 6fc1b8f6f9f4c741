"""``toxicity.detoxify`` (Detoxify checkpoints, batched) and the offline ``toxicity.profanity`` fallback."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from datahygiene.core import progress
from datahygiene.core.registry import register
from datahygiene.core.stage import ArtifactKind, Batch, StageBase, StageContext, StageParams
from datahygiene.stages.fallback import build_fallback, describe_fallback, fallback_artifacts
from datahygiene.stages.lexicon.lexicon import Lexicon, LexiconSpec
from datahygiene.stages.toxicity.runtime import OnnxModel, Runtime, load_onnx, resolve_runtime
from datahygiene.stages.toxicity.textbatch import label_columns, score_rows, text_rows
from datahygiene.stages.weights import (
    describe_packaged,
    load_checkpoint,
    network_allowed,
    pick_device,
    resolve_file,
    sha256_file,
    torch_hub_checkpoint,
)

log = logging.getLogger(__name__)

_RENAME = {"toxic": "toxicity", "identity_hate": "identity_attack", "severe_toxic": "severe_toxicity"}


class ProfanityParams(StageParams):
    """No settings: alt-profanity-check's shipped linear model."""


@register("toxicity.profanity")
class ProfanityStage(StageBase[ProfanityParams]):
    """Offline text fallback: alt-profanity-check probability as ``toxicity`` (and ``tox_profanity``)."""

    needs_full_image: ClassVar[bool] = False  # reads text (and image bytes), never pixels

    Params: ClassVar[type[StageParams]] = ProfanityParams

    def __init__(self, params: StageParams, context: StageContext) -> None:
        super().__init__(params, context)
        from profanity_check import predict_prob

        self._predict = predict_prob

    def output_schema(self) -> pa.Schema:
        """``tox_profanity`` and ``toxicity`` (float32)."""
        return pa.schema([("tox_profanity", pa.float32()), ("toxicity", pa.float32())])

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """Score rows with text; null elsewhere."""
        texts = batch.texts()
        idx = text_rows(texts)
        scores = np.full(batch.num_rows, np.nan, dtype=np.float32)
        if idx:
            scores[idx] = np.asarray(self._predict([texts[i] for i in idx]), dtype=np.float32)
        mask = np.isnan(scores)
        column = pa.array(scores, pa.float32(), mask=mask)
        return {"tox_profanity": column, "toxicity": column}

    def describe(self) -> dict[str, Any]:
        """Package name and version of the shipped model."""
        return describe_packaged(self.name, self.version, "alt-profanity-check", "alt-profanity-check")


class DetoxifyParams(StageParams):
    """Variant, weight locations, batching and the fallback stage used when weights are absent."""

    variant: Literal["original", "unbiased", "multilingual"] = "original"
    checkpoint: Path | None = None
    hf_config: Path | None = None
    batch_size: int = 32
    max_length: int = 256
    #: ``bf16`` runs the model under bfloat16 autocast (faster on GPUs and AMX CPUs; scores move by ~1e-3).
    precision: Literal["fp32", "bf16"] = "fp32"
    #: ``auto``: ONNX Runtime (fp32) on CPU when installed, torch on GPU or with ``precision: bf16``; ``onnx-int8``
    #: is opt-in (docs/scoring.md).
    runtime: Runtime = "auto"
    #: Stage built when no weights resolve: MiniLM + heads (HateCheck ROC-AUC 0.855 held out, see docs/scoring.md).
    fallback: str | None = "toxicity.embedding"
    fallback_params: dict[str, Any] = Field(default_factory=dict)
    #: With Detoxify weights: ``toxicity`` is raised to this where the lexicon finds an unambiguous term of severity
    #: >= 2 outside a self-reference or quotation (the same floor as ``toxicity.embedding``); ``null`` turns it off.
    lexicon_floor: float | None = Field(default=0.9, ge=0.0, le=1.0)


_CKPT_FILES = {
    "original": "toxic_original-c1212f89.ckpt",
    "unbiased": "toxic_debiased-c7548aa0.ckpt",
    "multilingual": "multilingual_debiased-0b549669.ckpt",
}


class DetoxifyModel:
    """A Detoxify checkpoint loaded with ``weights_only=True`` and a fast batched ``predict`` on torch or ONNX Runtime.

    With an ONNX runtime the classifier is exported once (cached by the checkpoint's sha256) and the torch model is
    dropped after export, so only the onnxruntime session stays in memory.
    """

    def __init__(
        self,
        checkpoint: Path,
        hf_config: Path | None,
        device: str,
        max_length: int,
        runtime: Literal["onnx", "onnx-int8", "torch"] = "torch",
        sha256: str | None = None,
    ) -> None:
        import transformers

        loaded = load_checkpoint(checkpoint)
        if "config" not in loaded or "state_dict" not in loaded:
            raise ValueError(f"{checkpoint} is not a Detoxify checkpoint (needs 'config' and 'state_dict')")
        arch = loaded["config"]["arch"]["args"]
        self.labels = [_RENAME.get(c, c) for c in loaded["config"]["dataset"]["args"]["classes"]]
        source = str(hf_config) if hf_config is not None else arch["model_type"]
        local = hf_config is not None
        model_cls = getattr(transformers, arch["model_name"])
        config = model_cls.config_class.from_pretrained(source, num_labels=arch["num_classes"], local_files_only=local)
        self.tokenizer = getattr(transformers, arch["tokenizer_name"]).from_pretrained(source, local_files_only=local)
        self.device = device
        self.max_length = max_length
        self.runtime = runtime
        self.onnx: OnnxModel | None = None
        self.model: Any = None
        attention = "sdpa" if runtime == "torch" else "eager"  # eager attention exports to plain ONNX ops
        model = model_cls.from_pretrained(
            None, config=config, state_dict=loaded["state_dict"], attn_implementation=attention
        )
        del loaded
        if runtime == "torch":
            self.model = model.to(device).eval()
            return
        from datahygiene.stages.toxicity.modules import Logits

        def export_source() -> tuple[Any, dict[str, np.ndarray]]:
            sample = self.tokenizer(
                ["a short text", "a slightly longer text to pad"], padding=True, return_tensors="np"
            )
            return Logits(model).eval(), dict(sample)

        kind = f"detoxify-{arch['model_name']}".lower()
        self.onnx = load_onnx(runtime, kind, sha256 or sha256_file(checkpoint), export_source, None)

    def predict(self, texts: list[str], batch_size: int, precision: str = "fp32") -> np.ndarray:
        """Sigmoid scores, shape (len(texts), labels).

        Texts are tokenized once (truncated to ``max_length``), sorted by token count and cut into batches that
        pad little (``length_batches``); the order is restored. ``precision="bf16"`` runs under bfloat16 autocast
        (torch only).
        """
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length)
        lengths = np.array([len(ids) for ids in enc["input_ids"]], dtype=np.int64)
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), len(self.labels)), dtype=np.float32)
        batches = length_batches(lengths[order], batch_size)
        if self.onnx is not None:
            for rows in batches:
                chunk = order[rows]
                features = {key: [values[i] for i in chunk] for key, values in enc.items()}
                logits = self.onnx(self.tokenizer.pad(features, return_tensors="np"))
                out[chunk] = 1.0 / (1.0 + np.exp(-logits))
                progress.scored(rows.stop, len(texts))
            return out
        import torch

        device_type = self.device.split(":")[0]
        with (
            torch.inference_mode(),
            torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16"),
        ):
            for rows in batches:
                chunk = order[rows]
                features = {key: [values[i] for i in chunk] for key, values in enc.items()}
                padded = self.tokenizer.pad(features, return_tensors="pt").to(self.device)
                logits = self.model(**padded).logits
                out[chunk] = torch.sigmoid(logits.float()).cpu().numpy()
                progress.scored(rows.stop, len(texts))
        return out

    def describe_runtime(self) -> dict[str, Any]:
        """Which runtime ran (torch + device, or the ONNX file and its sha256), for the manifest."""
        if self.onnx is not None:
            return self.onnx.describe()
        return {"runtime": "torch", "device": self.device}


def length_batches(sorted_lengths: np.ndarray, batch_size: int) -> list[slice]:
    """Cut ascending token counts into batches of at most ``batch_size`` rows whose padding stays small.

    A batch grows while its padded size (rows x longest) is at most 1.2x its real tokens plus 4 per row, so
    short texts batch fully and the long tail goes in small batches instead of padding 32 rows to the longest.
    """
    batches: list[slice] = []
    start, count = 0, len(sorted_lengths)
    while start < count:
        end, real = start + 1, int(sorted_lengths[start])
        while end < count and end - start < batch_size:
            longest, rows = int(sorted_lengths[end]), end - start + 1
            if longest * rows > 1.2 * (real + longest) + 4 * rows:
                break
            real += longest
            end += 1
        batches.append(slice(start, end))
        start = end
    return batches


def resolve_detoxify(params: DetoxifyParams, context: StageContext) -> tuple[Path, Path | None] | None:
    """Checkpoint and HF config folder: params, then ``models_dir/detoxify/<variant>``, then the torch hub cache."""
    filename = _CKPT_FILES[params.variant]
    candidates: list[Path] = []
    if params.checkpoint is not None:
        candidates.append(params.checkpoint)
    folder = context.models_dir / "detoxify" / params.variant if context.models_dir else None
    if folder is not None:
        candidates += [folder / filename, folder / "model.ckpt"]
    candidates.append(torch_hub_checkpoint(filename))
    found = resolve_file(candidates)
    hf_config = params.hf_config
    if hf_config is None and folder is not None and (folder / "config.json").is_file():
        hf_config = folder
    if found is None and network_allowed(context):
        import torch.hub
        from detoxify.detoxify import MODEL_URLS

        try:
            torch.hub.download_url_to_file(MODEL_URLS[params.variant], str(torch_hub_checkpoint(filename)))
            found = torch_hub_checkpoint(filename)
        except (OSError, RuntimeError, ValueError) as exc:  # network errors mean "not available"
            log.warning("Detoxify %s download failed: %s", params.variant, exc)
    return None if found is None else (found, hf_config)


@register("toxicity.detoxify")
class DetoxifyStage(StageBase[DetoxifyParams]):
    """Detoxify scores ``tox_<label>`` plus ``toxicity`` (max); delegates to the fallback when weights are absent."""

    needs_full_image: ClassVar[bool] = False  # reads text (and image bytes), never pixels

    Params: ClassVar[type[StageParams]] = DetoxifyParams

    def __init__(self, params: StageParams, context: StageContext) -> None:
        super().__init__(params, context)
        self.model: DetoxifyModel | None = None
        self.lexicon: Lexicon | None = None
        self.fallback: Any = None
        self.weights: Path | None = None
        self.sha256: str | None = None
        resolved = resolve_detoxify(self.params, context)
        if resolved is not None:
            self.weights, hf_config = resolved
            device = pick_device(context.device)
            self.sha256 = sha256_file(self.weights)
            self.model = DetoxifyModel(
                self.weights, hf_config, device, self.params.max_length, self._runtime(device), self.sha256
            )
            self.lexicon = Lexicon(LexiconSpec()) if self.params.lexicon_floor is not None else None
            log.info("toxicity: using Detoxify %s from %s", self.params.variant, self.weights)
        else:
            fallback_params = dict(self.params.fallback_params)
            if self.params.fallback == "toxicity.embedding":  # the fallback runs where the model would have run
                fallback_params.setdefault("runtime", self.params.runtime)
            self.fallback = build_fallback(
                self.name, f"Detoxify {self.params.variant}", self.params.fallback, context, fallback_params
            )

    def output_schema(self) -> pa.Schema:
        """``tox_<label>`` per Detoxify label and ``toxicity`` (float32), or the fallback's schema."""
        if self.model is None:
            schema: pa.Schema = self.fallback.output_schema()
            return schema
        return pa.schema([(f"tox_{label}", pa.float32()) for label in self.model.labels] + [("toxicity", pa.float32())])

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """Score rows with text; null for rows without text."""
        if self.model is None:
            result: dict[str, pa.Array] = self.fallback.process(batch)
            return result
        model = self.model
        precision = self.params.precision
        scores = score_rows(
            batch, len(model.labels), lambda texts: model.predict(texts, self.params.batch_size, precision)
        )
        columns = label_columns(scores, model.labels)
        floor = self.params.lexicon_floor
        if self.lexicon is not None and floor is not None:
            texts = batch.texts()
            raised = [isinstance(t, str) and self.lexicon.match(t).floor for t in texts]
            toxicity = np.asarray(columns["toxicity"].to_numpy(zero_copy_only=False), dtype=np.float32)
            toxicity = np.where(raised, np.maximum(toxicity, floor), toxicity)
            columns["toxicity"] = pa.array(toxicity, pa.float32(), mask=np.isnan(scores[:, 0]))
        return columns

    def artifacts(self) -> dict[str, ArtifactKind]:
        """Detoxify leaves none; the fallback's declaration when it runs."""
        return {} if self.model is not None else fallback_artifacts(self.fallback)

    def describe(self) -> dict[str, Any]:
        """Model used (primary or fallback), weights file and sha256."""
        if self.model is None:
            return describe_fallback(self, f"Detoxify {self.params.variant}", self.fallback)
        return {
            "name": self.name,
            "version": self.version,
            "model": f"detoxify-{self.params.variant}",
            "weights": str(self.weights),
            "sha256": self.sha256,
            "labels": self.model.labels,
            "precision": self.params.precision,
            "lexicon_floor": self.params.lexicon_floor,
            **self.model.describe_runtime(),
        }

    def _runtime(self, device: str) -> Literal["onnx", "onnx-int8", "torch"]:
        """``auto`` keeps torch for bf16 (a torch autocast feature); bf16 with an explicit ONNX runtime is an error."""
        if self.params.precision == "bf16":
            if self.params.runtime in ("onnx", "onnx-int8"):
                raise ValueError(f"{self.name}: precision bf16 runs on torch only, not runtime {self.params.runtime}")
            return "torch"
        return resolve_runtime(self.params.runtime, device)
