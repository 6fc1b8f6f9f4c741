"""Usage errors are one line and exit 2, found before any model loads or any data is read (issue 16: 8, 9, 12)."""

from __future__ import annotations

import errno
import json
import os
import pickle
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from datahygiene.cli.main import app
from datahygiene.io.sink import RunDir

MINIMAL = "configs/minimal.yaml"


def _jsonl(path: Path, rows: int = 3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": f"r{i}", "text": f"row {i}"}) + "\n" for i in range(rows)))
    return path


def _run(*arguments: str) -> Any:
    return CliRunner().invoke(app, ["run", *arguments], env={"COLUMNS": "300"})


def _one_error_line(result: Any, *expected: str) -> str:
    """The output is exactly one ``error:`` line holding every expected fragment; exit code 2."""
    output = result.output.strip()
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    assert output.startswith("error: ")
    assert "\n" not in output, output
    for fragment in expected:
        assert fragment in output, output
    return str(output)


def test_output_path_that_is_a_file(tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "a.jsonl")
    target = tmp_path / "taken"
    target.write_text("not a directory")
    _one_error_line(_run(MINIMAL, "-i", str(data), "-o", str(target)), str(target), "not a directory")
    _one_error_line(_run(MINIMAL, "-i", str(data), "-o", str(target / "below")), str(target), "not a directory")


def test_unwritable_output_is_not_called_busy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _jsonl(tmp_path / "a.jsonl")
    parent = tmp_path / "read-only"
    parent.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != parent and real_access(path, mode))
    _one_error_line(_run(MINIMAL, "-i", str(data), "-o", str(parent / "out")), "cannot write", str(parent))
    assert not (parent / "out").exists()


def test_lock_failure_that_is_not_another_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: RunDir) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", str(self.root / "_tmp"))

    monkeypatch.setattr(RunDir, "lock", refuse)
    result = _run(MINIMAL, "-i", str(_jsonl(tmp_path / "a.jsonl")), "-o", str(tmp_path / "out"))
    line = _one_error_line(result, "cannot write into", "Permission denied")
    assert "another run" not in line


def test_output_inside_an_input_folder_is_refused(tmp_path: Path) -> None:
    _jsonl(tmp_path / "data" / "a.jsonl")
    result = _run(MINIMAL, "-i", str(tmp_path / "data"), "-o", str(tmp_path / "data" / "out"))
    _one_error_line(result, "inside the input", str(tmp_path / "data"))
    assert not (tmp_path / "data" / "out").exists()
    recursive = _run(MINIMAL, "-i", f"{tmp_path}/**/*.jsonl", "-o", str(tmp_path / "data" / "out"))
    _one_error_line(recursive, "inside the input")
    one_level = _run(MINIMAL, "-i", f"{tmp_path}/*", "-o", str(tmp_path / "data" / "out"))
    _one_error_line(one_level, "inside the input")  # '*' matches data/, which a rerun reads whole
    # beside the input (or a single file's folder, or where the glob cannot reach) is fine
    assert _run(MINIMAL, "-i", f"{tmp_path}/data/*.jsonl", "-o", str(tmp_path / "data" / "g")).exit_code == 0
    assert _run(MINIMAL, "-i", str(tmp_path / "data" / "a.jsonl"), "-o", str(tmp_path / "data" / "o")).exit_code == 0
    assert _run(MINIMAL, "-i", str(tmp_path / "data"), "-o", str(tmp_path / "beside")).exit_code == 0


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ('batch_size=!!python/object/apply:os.system ["true"]', "--set batch_size: not a plain YAML value"),
        ("plugins=[no_such_plugin_module]", "plugins: cannot import 'no_such_plugin_module'"),
        ("batch_size=true", "batch_size: Input should be a number, not a boolean"),
    ],
)
def test_bad_overrides(tmp_path: Path, override: str, expected: str) -> None:
    data = _jsonl(tmp_path / "a.jsonl")
    _one_error_line(_run(MINIMAL, "-i", str(data), "-o", str(tmp_path / "out"), "--set", override), expected)


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


@pytest.mark.slow
def test_a_pickle_that_is_not_weights_only_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    checkpoint = tmp_path / "evil.ckpt"
    checkpoint.write_bytes(pickle.dumps({"config": _Evil(marker), "state_dict": {}}))
    stage = f"stages=[{{name: toxicity.detoxify, params: {{checkpoint: '{checkpoint}', fallback: null}}}}]"
    result = _run(MINIMAL, "-i", str(_jsonl(tmp_path / "a.jsonl")), "-o", str(tmp_path / "out"), "--set", stage)
    _one_error_line(result, str(checkpoint), "refused: not a weights-only checkpoint")
    assert not marker.exists()


def test_cuda_without_a_gpu_is_refused_before_any_data_is_read(tmp_path: Path) -> None:
    import torch

    data = _jsonl(tmp_path / "a.jsonl")
    result = _run(MINIMAL, "-i", str(data), "-o", str(tmp_path / "out"), "--set", "models.device=cuda")
    if torch.cuda.is_available():  # on a GPU machine the same run goes through
        assert result.exit_code == 0, result.output
        return
    _one_error_line(result, "models.device=cuda", "no CUDA device")
    assert not (tmp_path / "out").exists()
    unknown = _run(MINIMAL, "-i", str(data), "-o", str(tmp_path / "out"), "--set", "models.device=gpu")
    _one_error_line(unknown, "models.device=gpu")


def test_a_role_mapped_to_a_column_no_shard_has(tmp_path: Path) -> None:
    a = _jsonl(tmp_path / "a.jsonl")
    b = tmp_path / "b.csv"
    b.write_text("id,caption,lang\nc1,hello,en\n")
    result = _run(MINIMAL, "-i", str(a), "-i", str(b), "-o", str(tmp_path / "out"), "--set", "columns.text=tweets")
    _one_error_line(result, "columns.text=tweets", "no input shard has a column 'tweets'", "caption, id, lang, text")
    assert not (tmp_path / "out").exists()
    # a column that some shard has is fine: the others flag their rows as missing_column (columnar) or null (JSONL)
    fine = _run(MINIMAL, "-i", str(a), "-i", str(b), "-o", str(tmp_path / "ok"), "--set", "columns.text=caption")
    assert fine.exit_code == 0, fine.output


def test_a_run_where_every_row_got_a_runner_reason_warns(tmp_path: Path) -> None:
    b = tmp_path / "b.csv"
    b.write_text("id,caption\nc1,\nc2, \n")
    result = _run(MINIMAL, "-i", str(b), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "warning: every row was rejected by the runner's own checks" in " ".join(result.output.split())
    fine = _run(MINIMAL, "-i", str(_jsonl(tmp_path / "a.jsonl")), "-o", str(tmp_path / "ok"))
    assert "warning" not in fine.output


def test_duplicate_column_names_fail_only_their_shard_with_one_clear_line(tmp_path: Path) -> None:
    table = pa.Table.from_arrays([pa.array(["d1"]), pa.array(["x"]), pa.array(["y"])], names=["id", "text", "text"])
    pq.write_table(table, tmp_path / "dup.parquet")
    good = _jsonl(tmp_path / "good.jsonl")
    result = _run(MINIMAL, "-i", str(tmp_path / "dup.parquet"), "-i", str(good), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "InputError: the input has more than one column named 'text'; rename them" in output
    assert "KeyError" not in output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [shard["status"] for shard in manifest["shards"]] == ["failed", "committed"]
