"""Weight-file resolution (models dir, caches, optional download) and hashing."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from datahygiene.core.config import ConfigError
from datahygiene.core.stage import StageContext
from datahygiene.io.sink import sha256_file as sha256_file  # re-exported for the model stages

log = logging.getLogger(__name__)


def network_allowed(context: StageContext) -> bool:
    """False when the run is offline or the HF hub is switched off by environment."""
    return not (context.offline or os.environ.get("HF_HUB_OFFLINE") == "1")


def torch_hub_checkpoint(filename: str) -> Path:
    """Where ``torch.hub.load_state_dict_from_url`` caches ``filename``."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def resolve_file(candidates: list[Path]) -> Path | None:
    """The first existing file among ``candidates``."""
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def check_device(requested: str) -> None:
    """Refuse, in one line, a ``models.device`` this machine does not have (``cuda`` without a GPU ...)."""
    if requested in ("auto", "cpu"):
        return
    import torch

    try:
        device = torch.device(requested)
    except (RuntimeError, ValueError):
        raise ConfigError(f"models.device={requested}: not a device name (auto, cpu, cuda, cuda:N, mps)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"models.device={requested}: no CUDA device is available here; use auto or cpu")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"models.device={requested}: this machine has {count} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"models.device={requested}: no MPS device is available here; use auto or cpu")


def pick_device(requested: str) -> str:
    """``cuda`` when available and not overridden, else the requested device (checked) or ``cpu``."""
    import torch

    if requested != "auto":
        check_device(requested)
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_checkpoint(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a pickle that needs more (code) is refused in one line."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        detail = f" (it calls {found.group(1)})" if found else ""
        raise ConfigError(f"{path}: refused: not a weights-only checkpoint{detail}") from None


def describe_packaged(name: str, version: str, package: str, model: str, **files: str | None) -> dict[str, Any]:
    """Manifest entry of a stage whose model ships inside a pip package (name and version of both)."""
    from importlib.metadata import version as package_version

    return {"name": name, "version": version, "model": model, "model_version": package_version(package), **files}
