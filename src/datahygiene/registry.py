"""Name -> stage class registry.

Stages register themselves with ``@register("toxicity.detoxify")``. Built-in
stage modules are imported lazily on first lookup so importing the package
stays cheap; third-party stages come from ``plugins`` in the config (module
names imported before lookup) or the ``datahygiene.stages`` entry point group.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from datahygiene.stage import Stage, StageContext, StageParams

StageT = TypeVar("StageT", bound=type[Any])

# Modules that hold the built-in stages. Each registers on import.
BUILTIN_MODULES: tuple[str, ...] = (
    "datahygiene.stages.textstats",
    "datahygiene.scorers.toxicity",
    "datahygiene.scorers.embedding",
    "datahygiene.scorers.nsfw",
    "datahygiene.scorers.openclip",
    "datahygiene.scorers.blocklist",
    "datahygiene.likeness.stage",
    "datahygiene.rights.copyright",
    "datahygiene.provenance.synthetic",
    "datahygiene.dedup.dedup_stage",
)

_REGISTRY: dict[str, type[Any]] = {}
_builtins_loaded = False


class UnknownStageError(KeyError):
    """Raised for a stage name that no module registered."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        listing = ", ".join(known) if known else "(none)"
        super().__init__(f"unknown stage {name!r}; valid stages: {listing}")

    def __str__(self) -> str:
        return str(self.args[0])


def register(name: str) -> Callable[[StageT], StageT]:
    """Class decorator: make the stage available under ``name``."""

    def decorate(cls: StageT) -> StageT:
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f"stage name {name!r} is already registered to {existing.__qualname__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for entry in entry_points(group="datahygiene.stages"):
        entry.load()


def load_plugins(modules: list[str]) -> None:
    """Import user modules that register extra stages."""
    for module in modules:
        importlib.import_module(module)


def names() -> list[str]:
    """All registered stage names, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def get(name: str) -> type[Any]:
    """The stage class registered under ``name``."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownStageError(name, names()) from None


def params_model(name: str) -> type[StageParams]:
    """The parameter model of the named stage."""
    model: type[StageParams] = get(name).Params
    return model


def create(name: str, params: StageParams, context: StageContext) -> Stage:
    """Instantiate the named stage with validated params."""
    stage: Stage = get(name)(params, context)
    return stage
