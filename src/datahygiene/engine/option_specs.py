"""The name, default and help text of every run option, as plain data (importing this costs nothing).

:class:`datahygiene.engine.options.RunOptions` (the pydantic model the flow subclasses) takes each field's default
and description from :data:`OPTIONS`, and ``datahygiene run`` takes its help and defaults from here too, so the CLI
starts without importing pydantic. ``tests/engine/test_options.py`` checks that the model, the CLI and the flow's
command line agree with this table.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Required:
    """Marker default of an option that has none (the run cannot start without it)."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = Required()


class OptionSpec(NamedTuple):
    """One run option: its help text and default (``REQUIRED`` when it has none; lists default to empty)."""

    help: str
    default: Any = None


#: Every run option, in the order of :class:`~datahygiene.engine.options.RunOptions`.
OPTIONS: dict[str, OptionSpec] = {
    "inputs": OptionSpec("File, folder, glob or hf:PATH?split=..; repeatable.", REQUIRED),
    "output": OptionSpec("Output directory or URL (s3://...): new, or an earlier run's with resume.", REQUIRED),
    "config_path": OptionSpec("YAML config; the shipped default config when unset."),
    "config": OptionSpec("Inline config instead of config_path."),
    "overrides": OptionSpec("Override a config key: a.b=value; repeatable.", ()),
    "dedup_index": OptionSpec("Persistent dedup index shared across runs (folder or URL)."),
    "resume": OptionSpec("Continue a run found in the output: skip committed shards.", False),
    "offline": OptionSpec("Never touch the network for models.", False),
    "write_datasheet": OptionSpec(
        "Datasheet, card and HTML report at the end of the run; --no-datasheet skips them "
        "(later: `datahygiene datasheet`).",
        True,
    ),
}


def describe(name: str) -> str:
    """The help text of run option ``name``."""
    return OPTIONS[name].help


def default(name: str) -> Any:
    """The default of run option ``name`` (a fresh list for list options)."""
    value = OPTIONS[name].default
    return list(value) if isinstance(value, tuple) else value
