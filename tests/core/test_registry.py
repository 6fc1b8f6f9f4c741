"""The stage registry lists built-in stages without importing them, and its table matches the modules."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from datahygiene.core import registry
from tests.conftest import REPO

HEAVY = ("torch", "transformers", "open_clip", "cv2", "datasets", "prefect", "pyarrow", "numpy", "PIL")


def test_builtin_table_matches_what_the_modules_register() -> None:
    for module in registry.BUILTIN_MODULES:
        importlib.import_module(module)
    registered = {
        name: cls.__module__ for name, cls in registry._REGISTRY.items() if cls.__module__.startswith("datahygiene.")
    }
    assert registered == registry.BUILTIN_STAGES


def test_unknown_stage_names_the_valid_ones() -> None:
    with pytest.raises(registry.UnknownStageError, match=r"valid stages: .*dedup.*text\.stats"):
        registry.get("no.such.stage")


def _imported_after(args: list[str]) -> list[str]:
    """Top-level packages a fresh interpreter has imported after running the CLI with ``args``."""
    code = (
        "import sys\n"
        "from datahygiene.cli.main import app\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(__import__('json').dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=120)
    modules: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return modules


@pytest.mark.parametrize("args", [["--help"], ["stages"], ["run", "--help"]])
def test_help_and_stages_import_no_data_or_model_library(args: list[str]) -> None:
    imported = _imported_after(args)
    assert [name for name in HEAVY if name in imported] == []


def test_stages_lists_every_builtin_stage() -> None:
    code = "from datahygiene.cli.main import app\napp(['stages'])"
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.split() == sorted(registry.BUILTIN_STAGES)
