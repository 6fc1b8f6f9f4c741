"""The run options are declared once (RunOptions) and reach the CLI and the flow's command line unchanged."""

from __future__ import annotations

import argparse
import inspect

import pytest

from datahygiene.cli.run import run_command
from datahygiene.engine import option_specs
from datahygiene.engine.options import RunOptions, add_run_arguments, run_values

#: RunOptions field -> name of the `datahygiene run` parameter that sets it.
CLI_PARAMETER = {"write_datasheet": "no_datasheet"}


def _cli_help(parameter: str) -> str:
    annotation = inspect.signature(run_command, eval_str=True).parameters[parameter].annotation
    info = annotation.__metadata__[0]
    return str(info.help)


@pytest.mark.parametrize("name", [name for name in RunOptions.model_fields if name != "config"])
def test_every_option_reaches_the_cli_with_the_model_help(name: str) -> None:
    assert _cli_help(CLI_PARAMETER.get(name, name)) == RunOptions.describe(name)


def test_the_model_takes_every_default_and_help_from_the_plain_table() -> None:
    assert list(RunOptions.model_fields) == list(option_specs.OPTIONS)
    for name, spec in option_specs.OPTIONS.items():
        field = RunOptions.model_fields[name]
        assert field.description == spec.help
        if spec.default is option_specs.REQUIRED:
            assert field.is_required(), name
        else:
            assert RunOptions.default(name) == option_specs.default(name), name


def test_the_cli_defaults_are_the_table_defaults() -> None:
    parameters = inspect.signature(run_command, eval_str=True).parameters
    for name in ("resume", "offline", "config_path", "dedup_index"):
        assert parameters[name].default == option_specs.default(name), name
    assert parameters["no_datasheet"].default is not option_specs.default("write_datasheet")


def test_the_flow_command_line_is_built_from_the_model() -> None:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    args = parser.parse_args(["-i", "a", "--input", "b", "-o", "out", "--set", "x=1", "--offline", "--no-datasheet"])
    options = RunOptions(**run_values(args))
    assert options.inputs == ["a", "b"]
    assert options.overrides == ["x=1"]
    assert options.offline is True
    assert options.write_datasheet is False
    assert options.resume is False
    helps = {action.dest: action.help for action in parser._actions}
    assert helps["dedup_index"] == RunOptions.describe("dedup_index")


def test_offline_and_overrides_reach_the_config() -> None:
    options = RunOptions(inputs=["x"], output="o", overrides=["batch_size=8"], offline=True)
    config = options.run_config()
    assert config.batch_size == 8
    assert config.models.offline is True


def test_config_and_config_path_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        RunOptions(inputs=["a"], output="o", config_path="c.yaml", config={})
