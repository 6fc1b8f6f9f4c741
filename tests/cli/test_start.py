"""``datahygiene --help`` and ``datahygiene stages`` start light: no pydantic, config models or data libraries.

Each case runs the CLI in a fresh interpreter and reads ``sys.modules`` afterwards; no timings (those live in
``bench/bench_end_to_end.py start``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

#: Imported by no start-up command: validation and config models, YAML, remote storage, data and model libraries.
NEVER_AT_START = (
    "pydantic",
    "pydantic_core",
    "yaml",
    "fsspec",
    "numpy",
    "pyarrow",
    "PIL",
    "torch",
    "datahygiene.core.config",
    "datahygiene.core.stage",
    "datahygiene.engine.options",
    "datahygiene.engine.run",
    "datahygiene.io.storage",
)


def _modules_after(args: list[str]) -> tuple[str, set[str]]:
    """What the CLI printed with ``args`` and every module a fresh interpreter had imported by then."""
    code = (
        "import json, sys\n"
        "from datahygiene.cli.main import app\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('\\n' + json.dumps(sorted(sys.modules)))\n"
    )
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin", "COLUMNS": "100"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=120)
    printed, _, modules = out.stdout.rstrip().rpartition("\n")
    return printed, set(json.loads(modules))


@pytest.mark.parametrize("args", [["--help"], ["stages"], ["run", "--help"], ["make-demo", "--help"]])
def test_start_commands_import_no_validation_config_or_data_library(args: list[str]) -> None:
    printed, modules = _modules_after(args)
    assert printed.strip()  # the command did its job
    assert sorted(name for name in NEVER_AT_START if name in modules) == []


def test_stages_renders_nothing_with_rich() -> None:
    printed, modules = _modules_after(["stages"])
    assert "dedup" in printed.split()
    assert not any(name == "rich" or name.startswith("rich.") for name in modules)


def test_run_help_shows_the_option_table_help() -> None:
    from datahygiene.engine.option_specs import describe

    printed, _ = _modules_after(["run", "--help"])
    flat = " ".join(printed.replace("│", " ").split())
    for name in ("inputs", "resume", "offline", "dedup_index"):
        assert " ".join(describe(name).split()) in flat, name


def test_help_lists_every_command_with_its_whole_first_sentence_and_no_rich() -> None:
    from datahygiene.cli.main import app

    printed, modules = _modules_after(["--help"])
    assert not any(name == "rich" or name.startswith("rich.") for name in modules)
    flat = " ".join(printed.split())
    for info in app.registered_commands:
        command = info.callback
        assert command is not None
        text = info.help or command.__doc__  # an alias has its own help
        assert text
        first = " ".join(text.split(".")[0].split())
        assert f"{info.name} {first}." in flat, info.name
