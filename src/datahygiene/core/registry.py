"""Name -> stage class registry.

Stages register themselves with ``@register("toxicity.detoxify")``. The
built-in stages are listed by name in :data:`BUILTIN_STAGES`, so listing
them imports nothing; a stage's module (and the libraries it needs) is
imported on first lookup of that stage. Third-party stages come from
``plugins`` in the config (module names imported before lookup) or the
``datahygiene.stages`` entry point group.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from datahygiene.core.stage import Stage, StageContext, StageParams

StageT = TypeVar("StageT", bound=type[Any])

#: Built-in stage name -> the module that registers it (checked against the modules by the tests).
BUILTIN_STAGES: dict[str, str] = {
    "text.stats": "datahygiene.stages.textstats",
    "toxicity.detoxify": "datahygiene.stages.toxicity.detoxify",
    "toxicity.profanity": "datahygiene.stages.toxicity.detoxify",
    "toxicity.embedding": "datahygiene.stages.toxicity.embedding",
    "nsfw.nudenet": "datahygiene.stages.nsfw.nudenet",
    "nsfw.openclip": "datahygiene.stages.nsfw.openclip",
    "blocklist": "datahygiene.stages.blocklist",
    "likeness": "datahygiene.stages.likeness.stage",
    "rights.copyright": "datahygiene.stages.rights.copyright",
    "provenance.synthetic": "datahygiene.stages.provenance.synthetic",
    "provenance.c2pa": "datahygiene.stages.provenance.c2pa",
    "dedup": "datahygiene.stages.dedup.dedup_stage",
}
#: The modules that hold the built-in stages, each imported only when one of its stages is looked up.
BUILTIN_MODULES: tuple[str, ...] = tuple(dict.fromkeys(BUILTIN_STAGES.values()))

_REGISTRY: dict[str, type[Any]] = {}
_entry_points_loaded = False


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


def _load_entry_points() -> None:
    """Import the third-party stage modules announced by installed packages (once)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group="datahygiene.stages"):
        entry.load()


def load_plugins(modules: list[str]) -> None:
    """Import user modules that register extra stages."""
    for module in modules:
        importlib.import_module(module)


def names() -> list[str]:
    """All stage names, sorted: the built-in ones (nothing imported for them) and every registered one."""
    _load_entry_points()
    return sorted({*BUILTIN_STAGES, *_REGISTRY})


def get(name: str) -> type[Any]:
    """The stage class registered under ``name`` (importing its module on first use)."""
    if name not in _REGISTRY and name in BUILTIN_STAGES:
        importlib.import_module(BUILTIN_STAGES[name])
    if name not in _REGISTRY:
        _load_entry_points()
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
    from datahygiene.core.stage import StageParams

    cls = get(name)
    if not isinstance(params, StageParams):
        params = cls.Params(**(params or {}))
    stage: Stage = cls(params, context)
    return stage


def is_stateful(name: str) -> bool:
    """Whether the registered stage keeps state across rows (and so needs input order)."""
    from datahygiene.core.stage import is_stateful_class

    return is_stateful_class(get(name))
