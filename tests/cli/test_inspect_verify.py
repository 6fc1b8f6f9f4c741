"""``inspect`` prints ids whole (they paste into ``trace``); verify and inspect agree on a folder with no run."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from datahygiene.cli.main import app


def test_long_derived_ids_are_printed_whole_and_trace_accepts_them(tmp_path: Path) -> None:
    folder = tmp_path / ("a-rather-long-folder-name-for-the-input-data" * 2)
    folder.mkdir()
    source = folder / "texts-without-any-id-column.jsonl"
    source.write_text('{"text": ""}\n{"text": "kept text"}\n')
    output = tmp_path / "out"
    runner = CliRunner()
    ran = runner.invoke(app, ["run", "configs/minimal.yaml", "-i", str(source), "-o", str(output), "--no-datasheet"])
    assert ran.exit_code == 0, ran.output
    derived = f"{source}:0"  # the empty row is rejected; its id is derived from the path
    assert len(derived) > 120
    shown = runner.invoke(app, ["inspect", str(output)])
    assert shown.exit_code == 0, shown.output
    assert derived in shown.output
    traced = runner.invoke(app, ["trace", str(output), derived])
    assert traced.exit_code == 0, traced.output
    assert "rejected (empty_text)" in traced.output


def test_verify_and_inspect_say_the_same_about_a_folder_without_a_run(tmp_path: Path) -> None:
    runner = CliRunner()
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    results = {command: runner.invoke(app, [command, str(empty)]) for command in ("verify", "inspect", "datasheet")}
    assert {command: r.exit_code for command, r in results.items()} == dict.fromkeys(results, 2)
    messages = {r.output.strip() for r in results.values()}
    assert len(messages) == 1, messages
    (message,) = messages
    assert message.startswith("error:")
    assert "mismatch" not in message
