"""Name -> stage class registry.

Stages register themselves with ``@register("toxicity.detoxify")``. Built-in
stage modules are imported lazily on first lookup so importing the package
stays cheap; third-party stages come from ``plugins`` in the config (module
names imported before lookup) or the ``datahygiene.stages`` entry point group.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, TypeVar

from datahygiene.core.stage import Stage, StageContext, StageParams, is_stateful_class

StageT = TypeVar("StageT", bound=type[Any])

# Modules that hold the built-in stages. Each registers on import.
BUILTIN_MODULES: tuple[str, ...] = (
    "datahygiene.stages.textstats",
    "datahygiene.stages.toxicity.detoxify",
    "datahygiene.stages.toxicity.embedding",
    "datahygiene.stages.nsfw.nudenet",
    "datahygiene.stages.nsfw.openclip",
    "datahygiene.stages.blocklist",
    "datahygiene.stages.likeness.stage",
    "datahygiene.stages.rights.copyright",
    "datahygiene.stages.provenance.synthetic",
    "datahygiene.stages.provenance.c2pa",
    "datahygiene.stages.dedup.dedup_stage",
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


def create(name: str, params: StageParams | Mapping[str, Any] | None, context: StageContext) -> Stage:
    """Instantiate the named stage; ``params`` as its model, or a mapping (``None``: defaults) validated into it."""
    cls = get(name)
    if not isinstance(params, StageParams):
        params = cls.Params(**(params or {}))
    stage: Stage = cls(params, context)
    return stage


def is_stateful(name: str) -> bool:
    """Whether the registered stage keeps state across rows (and so needs input order)."""
    return is_stateful_class(get(name))
