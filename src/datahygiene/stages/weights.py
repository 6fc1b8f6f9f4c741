"""Weight-file resolution (models dir, caches, optional download) and hashing."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

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


def pick_device(requested: str) -> str:
    """``cuda`` when available and not overridden, else the requested device or ``cpu``."""
    import torch

    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def describe_packaged(name: str, version: str, package: str, model: str, **files: str | None) -> dict[str, Any]:
    """Manifest entry of a stage whose model ships inside a pip package (name and version of both)."""
    from importlib.metadata import version as package_version

    return {"name": name, "version": version, "model": model, "model_version": package_version(package), **files}
