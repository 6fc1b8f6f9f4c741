"""Shared fallback mechanism: a model stage whose weights do not resolve hands over to a shipped stage."""

from __future__ import annotations

import logging
from typing import Any

from datahygiene.core import registry
from datahygiene.core.stage import ArtifactKind, Stage, StageContext

log = logging.getLogger(__name__)


def build_fallback(
    owner: str, missing: str, fallback: str | None, context: StageContext, params: dict[str, Any] | None = None
) -> Stage:
    """Build the stage named ``fallback`` (with ``params``, default ones when omitted) and say so on the console.

    ``owner`` is the stage that falls back, ``missing`` names the weights that did not resolve. Without a
    configured fallback, missing weights are an error.
    """
    if fallback is None:
        raise FileNotFoundError(f"{owner}: {missing} weights not found and no fallback configured")
    stage = registry.create(fallback, params, context)
    log.warning("%s: %s weights not found; using fallback %s", owner, missing, fallback)
    return stage


def fallback_artifacts(fallback: Stage) -> dict[str, ArtifactKind]:
    """The artifacts a fallback stage declares (none for a stage without the declaration)."""
    declare = getattr(fallback, "artifacts", None)
    return dict(declare()) if callable(declare) else {}


def describe_fallback(owner: Stage, missing: str, fallback: Stage) -> dict[str, Any]:
    """Manifest entry of a stage that runs its fallback: what was missing and what the fallback runs."""
    ran = {"name": fallback.name, "version": fallback.version, **fallback.describe()}
    return {"name": owner.name, "version": owner.version, "missing": missing, "fallback": ran}
