"""Run configuration: pydantic models of ``configs/*.yaml``.

Everything is validated up front so that a bad config fails in one clear
line before any data is read: unknown keys, wrong types (with the field
path), unknown stage names (with the valid ones) and policy rules that name
columns no stage produces.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from datahygiene.core import registry
from datahygiene.core.stage import StageParams
from datahygiene.core.strict import StrictModel


class ConfigError(ValueError):
    """A configuration that cannot be used; the message is one line for the user."""


class _Strict(StrictModel):
    """Unknown keys are errors, values are frozen, a boolean is no number."""


class ColumnMap(_Strict):
    """Which input column plays which role; ``None`` means detect by name."""

    id: str | None = None
    text: str | None = None
    image: str | None = None
    url: str | None = None
    license: str | None = None


class InputLimits(_Strict):
    """Budgets that protect the run from hostile or broken input."""

    max_image_pixels: int = Field(default=100_000_000, gt=0)
    max_image_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    images_per_shard: int = Field(default=10_000, gt=0)
    #: Longer texts are rejected (``text_too_long``, the text's bytes kept in ``raw``): the model stages' time
    #: grows with a text's length, and one text must not stall or fail a shard.
    max_text_chars: int = Field(default=1_000_000, gt=0)


class StageConfig(_Strict):
    """One stage of the pipeline: a registry name and its parameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


_OPS = (">=", "<=", "==", "!=", ">", "<")
_RULE = re.compile(
    r"^\s*(?P<column>[A-Za-z_][A-Za-z0-9_.]*)\s*"
    r"(?:(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)"
    r"|(?P<word>contains|not_empty|not_null)(?:\s+(?P<item>\S+))?)\s*$"
)


class Rule(_Strict):
    """A policy rule: a condition on a column and what to do with matching rows.

    ``when`` is ``"<column> <op> <number>"`` (``toxicity > 0.8``),
    ``"<column> contains <value>"`` or ``"<column> not_empty"`` for list
    columns, or ``"<column> not_null"``. A ``contains`` value ending in ``*``
    matches every element with that prefix (``copyright_signals contains
    opt_out:*``). ``reason`` defaults to the condition without spaces; in a
    reason, ``{value}`` expands to each matching list element (or the
    column's value), giving one reason per element.
    """

    when: str
    action: Literal["reject", "quarantine"] = "reject"
    reason: str | None = None

    @field_validator("when")
    @classmethod
    def _parse(cls, when: str) -> str:
        match = _RULE.match(when)
        if match is None:
            raise ValueError(
                "expected '<column> <op> <number>' (op one of > >= < <= == !=), "
                "'<column> contains <value>', '<column> not_empty' or '<column> not_null'"
            )
        if match["word"] == "contains" and not match["item"]:
            raise ValueError("'contains' needs a value")
        return when

    @property
    def column(self) -> str:
        return self._match()["column"]

    @property
    def op(self) -> str:
        match = self._match()
        return match["op"] or match["word"]

    @property
    def operand(self) -> float | str | None:
        match = self._match()
        if match["op"]:
            return float(match["value"])
        return match["item"]

    @property
    def reason_template(self) -> str:
        if self.reason is not None:
            return self.reason
        match = self._match()
        if match["op"]:
            return f"{match['column']}{match['op']}{match['value']}"
        if match["word"] == "contains" and not match["item"].endswith("*"):
            return f"{match['column']}:{match['item']}"
        return f"{match['column']}:{{value}}"

    def _match(self) -> re.Match[str]:
        match = _RULE.match(self.when)
        assert match is not None  # checked by the validator
        return match


class PolicyConfig(_Strict):
    """Rules that turn columns into verdicts. Every matching rule adds a reason."""

    rules: list[Rule] = Field(default_factory=list)


class ModelsConfig(_Strict):
    """Where model weights come from."""

    dir: Path | None = None
    offline: bool = False
    device: str = "auto"


class RunConfig(_Strict):
    """The whole configuration of one run."""

    columns: ColumnMap = Field(default_factory=ColumnMap)
    limits: InputLimits = Field(default_factory=InputLimits)
    batch_size: int = Field(default=32768, gt=0)
    image_batch_size: int = Field(default=64, gt=0)
    #: A batch also ends at about this many bytes of input (every input kind): memory stays flat in rows.
    #: Parsing a JSON Lines block peaks at about three times its size; 32 MiB keeps a text run's peak near
    #: 2x the plain rensa loop's (docs/performance.md), at no measurable cost in speed against 64 MiB.
    batch_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    #: Reject rows whose id repeats an earlier row's (8 bytes of index per row).
    check_duplicate_ids: bool = True
    #: What ``--resume`` compares to find edited inputs: ``stat`` (path, size, mtime; free) or ``content``
    #: (path, size and an xxh3 hash of every input byte: one more read of the inputs per attempt).
    fingerprint: Literal["stat", "content"] = "stat"
    stages: list[StageConfig] = Field(default_factory=list)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    plugins: list[str] = Field(default_factory=list)

    def sha256(self) -> str:
        """Hash of the canonical JSON form; identifies the run's decisions."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def stage_params(self) -> list[tuple[str, StageParams]]:
        """Each configured stage with its validated parameters."""
        return [(stage.name, registry.params_model(stage.name).model_validate(stage.params)) for stage in self.stages]

    def needs_full_images(self) -> bool:
        """Whether a configured stage reads full-resolution pixels (a stage that does not say so is assumed to).

        When none does, images are validated by a reduced-size decode (see ``io.decode``).
        """
        for name, params in self.stage_params():
            full_images = getattr(registry.get(name), "full_images", None)
            if full_images is None or full_images(params):
                return True
        return False


def _format_error(error: ValidationError) -> str:
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"]) or "(root)"
    if first["type"] == "extra_forbidden":
        return f"unknown key '{path}'"
    return f"{path}: {first['msg']}"


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError):
                raise ConfigError(f"--set {dotted}: no list item {part!r}") from None
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {'.'.join(parts[: depth + 1])} is not a mapping")
        node = node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list):
        try:
            node[int(last)] = value
        except (ValueError, IndexError):
            raise ConfigError(f"--set {dotted}: no list item {last!r}") from None
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"--set {dotted}: parent is not a mapping")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides; values are parsed as YAML scalars."""
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {override!r}")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as error:  # e.g. a !!python/... tag, which safe_load refuses to construct
            problem = " ".join(str(getattr(error, "problem", None) or error).split())
            raise ConfigError(f"--set {key.strip()}: not a plain YAML value ({problem})") from None
        _set_dotted(data, key.strip(), value)
    return data


def parse_config(data: dict[str, Any]) -> RunConfig:
    """Validate a config mapping, including stage names, params and rule columns."""
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_error(error)) from None
    for module in config.plugins:
        try:
            registry.load_plugins([module])
        except Exception as error:  # noqa: BLE001 - whatever a plugin raises on import, say it in one line
            raise ConfigError(f"plugins: cannot import {module!r}: {type(error).__name__}: {error}") from None
    for index, stage in enumerate(config.stages):
        try:
            model = registry.params_model(stage.name)
        except registry.UnknownStageError as error:
            raise ConfigError(f"stages.{index}.name: {error}") from None
        try:
            model.model_validate(stage.params)
        except ValidationError as error:
            raise ConfigError(f"stages.{index}.params.{_format_error(error)}") from None
    return config


DEFAULT_CONFIG = Path(__file__).parents[1] / "data" / "default.yaml"


def load_config(path: Path | None, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML config (the shipped ``data/default.yaml`` when ``path`` is None) and validate it."""
    path = DEFAULT_CONFIG if path is None else path
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return parse_config(apply_overrides(data, overrides or []))
