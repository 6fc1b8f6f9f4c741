"""The options of one run, declared once: ``datahygiene run`` and the Prefect flow both read them from here.

:class:`RunOptions` names every option with its type; its defaults and help texts come from the plain table in
:mod:`datahygiene.engine.option_specs` (which the CLI reads without importing pydantic). The flow's parameters
subclass it, and :func:`add_run_arguments` turns it into ``argparse`` options for the flow's command line.
``tests/engine/test_options.py`` checks that the table, the model, the CLI and the flow stay in step.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from datahygiene.core.config import RunConfig, load_config, parse_config
from datahygiene.core.config import apply_overrides as apply_config_overrides
from datahygiene.engine import option_specs as specs
from datahygiene.io.storage import is_url


class RunOptions(BaseModel):
    """What one run is asked to do: inputs, output, config and how to treat an earlier attempt."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(min_length=1, description=specs.describe("inputs"))
    output: str = Field(description=specs.describe("output"))
    config_path: str | None = Field(default=specs.default("config_path"), description=specs.describe("config_path"))
    config: dict[str, Any] | None = Field(default=specs.default("config"), description=specs.describe("config"))
    overrides: list[str] = Field(
        default_factory=lambda: specs.default("overrides"), description=specs.describe("overrides")
    )
    dedup_index: str | None = Field(default=specs.default("dedup_index"), description=specs.describe("dedup_index"))
    resume: bool = Field(default=specs.default("resume"), description=specs.describe("resume"))
    offline: bool = Field(default=specs.default("offline"), description=specs.describe("offline"))
    write_datasheet: bool = Field(
        default=specs.default("write_datasheet"), description=specs.describe("write_datasheet")
    )

    @model_validator(mode="after")
    def _one_config(self) -> RunOptions:
        if self.config_path is not None and self.config is not None:
            raise ValueError("give config_path or config, not both")
        return self

    @classmethod
    def describe(cls, name: str) -> str:
        """The help text of option ``name``."""
        return cls.model_fields[name].description or ""

    @classmethod
    def default(cls, name: str) -> Any:
        """The default value of option ``name``."""
        return cls.model_fields[name].get_default(call_default_factory=True)

    def run_config(self) -> RunConfig:
        """The validated config: the inline one or the file (default: shipped), with overrides and ``offline``."""
        overrides = [*self.overrides, *(["models.offline=true"] if self.offline else [])]
        if self.config is not None:
            return parse_config(apply_config_overrides(dict(self.config), overrides))
        return load_config(None if self.config_path is None else Path(self.config_path), overrides)

    @property
    def output_path(self) -> Path | str:
        """The output: a local path, or the URL as given."""
        return self.output if is_url(self.output) else Path(self.output)

    @property
    def dedup_index_path(self) -> Path | str | None:
        """The dedup index: a local path, the URL as given, or None."""
        if self.dedup_index is None:
            return None
        return self.dedup_index if is_url(self.dedup_index) else Path(self.dedup_index)


#: Command-line spelling of each option: (flags, argparse keyword arguments). Booleans whose default is true are
#: offered as their negation (``--no-datasheet``). ``config`` (inline) has no command-line form.
_ARGUMENTS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "inputs": (("--input", "-i"), {"action": "append", "required": True}),
    "output": (("--output", "-o"), {"required": True}),
    "config_path": (("--config",), {}),
    "overrides": (("--set",), {"action": "append"}),
    "dedup_index": (("--dedup-index",), {}),
    "offline": (("--offline",), {"action": "store_true"}),
}
_NEGATED: dict[str, str] = {"write_datasheet": "--no-datasheet"}


def add_run_arguments(parser: argparse.ArgumentParser, options: type[RunOptions] = RunOptions) -> None:
    """Add every run option of ``options`` to ``parser`` (help and defaults from the model)."""
    for name, (flags, extra) in _ARGUMENTS.items():
        default = None if extra.get("action") == "append" else options.default(name)
        parser.add_argument(*flags, dest=name, default=default, help=options.describe(name), **extra)
    for name in ("resume", "write_datasheet"):
        if options.default(name):
            flag = _NEGATED.get(name, f"--no-{name.replace('_', '-')}")
            parser.add_argument(flag, dest=name, action="store_false", help=f"Do not: {options.describe(name)}")
        else:
            parser.add_argument(
                f"--{name.replace('_', '-')}", dest=name, action="store_true", help=options.describe(name)
            )


def run_values(args: argparse.Namespace) -> dict[str, Any]:
    """The run options parsed by :func:`add_run_arguments`, as keyword arguments of :class:`RunOptions`."""
    values = {name: getattr(args, name) for name in (*_ARGUMENTS, "resume", "write_datasheet")}
    values["overrides"] = values["overrides"] or []
    return values
