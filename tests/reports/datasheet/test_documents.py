"""The documents of a planted run: numbers agree with the manifest and with what was planted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from datahygiene.reports.datasheet import build_datasheet, write_datasheet
from datahygiene.reports.datasheet.build import size_category
from datahygiene.reports.datasheet.questions import AnswersError
from tests.reports.datasheet.conftest import EXPECTED
from tests.reports.datasheet.parse import card_header, html_counts, integer, md_table

LABELS = {"rows in": "rows_in", "kept": "rows_kept", "rejected": "rows_rejected", "quarantined": "rows_quarantined"}


@pytest.fixture(scope="module")
def docs(planted_run: Path) -> dict[str, Any]:
    """Write the documents once; return them with the manifest."""
    write_datasheet(planted_run)
    return {
        "manifest": json.loads((planted_run / "manifest.json").read_text()),
        "json": json.loads((planted_run / "datasheet.json").read_text()),
        "md": (planted_run / "datasheet.md").read_text(),
        "card": (planted_run / "README.md").read_text(),
        "html": (planted_run / "datasheet.html").read_text(),
    }


def test_counts_agree_across_documents_and_manifest(docs: dict[str, Any]) -> None:
    manifest = docs["manifest"]
    assert manifest["rows_quarantined"] == EXPECTED["celebs"]
    for name in ("md", "card"):
        counts = md_table(docs[name], "|  | rows | share |")
        assert {LABELS[label]: integer(cells[0]) for label, cells in counts.items()} == {
            key: manifest[key] for key in LABELS.values()
        }, name
        reasons = md_table(docs[name], "| reason | rows |")
        assert {reason: integer(cells[0]) for reason, cells in reasons.items()} == manifest["reject_reasons"], name
    assert {LABELS[k]: v for k, v in html_counts(docs["html"]).items()} == {k: manifest[k] for k in LABELS.values()}
    assert docs["json"]["counts"] == {key: manifest[key] for key in LABELS.values()}
    assert docs["json"]["reject_reasons"] == manifest["reject_reasons"]
    assert docs["json"]["run"]["config_sha256"] == manifest["config_sha256"]
    assert manifest["config_sha256"] in docs["md"]
    assert docs["json"]["warnings"] == []


def test_card_header_is_valid_and_points_at_kept(docs: dict[str, Any], planted_run: Path) -> None:
    header = card_header(docs["card"])
    assert header["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "kept/*.parquet"}]}
    ]
    assert header["size_categories"] == [size_category(docs["manifest"]["rows_kept"])] == ["n<1K"]
    assert header["license"] == "unknown"
    assert "task_categories" not in header  # never guessed from the data (a labelled set is not text-generation)
    assert "task categories: unknown (say which with `card.task_categories`" in docs["card"]
    import datasets

    loaded = datasets.load_dataset(str(planted_run), split="train", cache_dir=str(planted_run.parent / "hf-cache"))
    assert loaded.num_rows == docs["manifest"]["rows_kept"]


def test_size_categories() -> None:
    assert [size_category(n) for n in (0, 999, 1000, 250_000, 5 * 10**9)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "100K<n<1M",
        "1B<n<10B",
    ]


def test_histograms_mark_policy_thresholds(docs: dict[str, Any]) -> None:
    histograms = {h["column"]: h for h in docs["json"]["histograms"]}
    toxicity = histograms["toxicity"]
    assert toxicity["thresholds"] == [{"op": ">", "value": 0.8, "action": "reject", "reason": "toxicity>0.8"}]
    assert sum(toxicity["kept"]) + sum(toxicity["removed"]) + toxicity["nulls"] == docs["manifest"]["rows_in"]
    high = [i for i in range(len(toxicity["kept"])) if i / len(toxicity["kept"]) >= 0.8]
    assert sum(toxicity["kept"][i] for i in high) == 0
    assert sum(toxicity["removed"][i] for i in high) == docs["manifest"]["reject_reasons"]["toxicity>0.8"]
    assert "text_alpha_ratio" in histograms
    assert histograms["text_alpha_ratio"]["thresholds"] == []
    assert "> 0.8 → reject (toxicity>0.8)" in docs["md"]
    assert 'class="threshold"' in docs["html"]


def test_duplicates_tags_faces_and_models(docs: dict[str, Any]) -> None:
    data = docs["json"]
    assert data["duplicates"] == {"near": {"kept": 0, "removed": EXPECTED["near_dups"]}}
    tags = {t["column"]: t for t in data["tags"]}
    assert tags["likeness_signals"]["values"] == {"celebrity_match": {"kept": 0, "removed": EXPECTED["celebs"]}}
    assert tags["blocklist_lists"]["rows_removed"] == docs["manifest"]["reject_reasons"]["blocklist:slurs"]
    assert data["faces"] == {"faces_kept": EXPECTED["faces_kept"], "rows_with_faces_kept": 2}
    assert data["reason_families"]["blocklist:*"] == docs["manifest"]["reject_reasons"]["blocklist:slurs"]
    assert "| near | 0 | 3 |" in docs["md"]
    for name in ("md", "card"):
        assert "| testing.planted | 7 | planted-markers | /models/planted.bin | " + "ab" * 32 + " |" in docs[name]
    assert "| testing.planted | planted_head.json | planted seed rows |" in docs["md"]
    assert "planted_head.json</td><td>planted seed rows" in docs["html"]


def test_audit_flags_the_filter_that_erases_a_group(docs: dict[str, Any]) -> None:
    audit = docs["json"]["audit"]
    base_rows = EXPECTED["neutral"] + EXPECTED["near_dups"] + EXPECTED["celebs"] + EXPECTED["images"]
    assert audit["rows_no_group"] == base_rows
    groups = {g["group"]: g for g in audit["groups"]}
    muslim = {c["filter"]: c for c in groups["muslim"]["cells"]}
    assert groups["muslim"]["rows"] == EXPECTED["muslim"]
    assert muslim["blocklist:*"]["dropped"] == 20
    assert muslim["blocklist:*"]["base_rate"] == pytest.approx(5 / base_rows, abs=1e-6)
    assert muslim["blocklist:*"]["ratio"] == pytest.approx(0.5 / (5 / base_rows), rel=1e-3)
    assert muslim["blocklist:*"]["flagged"]
    assert not muslim["toxicity>0.8"]["flagged"]
    women = {c["filter"]: c for c in groups["women"]["cells"]}
    assert groups["women"]["rows"] == EXPECTED["women"]
    assert women["toxicity>0.8"]["dropped"] == 2
    assert not any(c["flagged"] for c in women.values())
    assert groups["men"]["rows"] == 0  # "women" and "menu" must not count as "men"
    flagged = {(f["group"], f["filter"]) for f in audit["flagged"]}
    assert ("muslim", "blocklist:*") in flagged
    assert not any(group == "women" for group, _ in flagged)
    assert "| religion | muslim | blocklist:* | 50.0% (20/40) |" in docs["md"]
    assert "| religion | muslim | blocklist:* | 50.0% (20/40) |" in docs["card"]
    kept = md_table(docs["md"], "| axis | group | kept rows mentioning |")
    assert kept["religion"] == ["muslim", "20", "13.5%"]


def test_unanswered_questions_are_marked_and_answers_fill_them(planted_run: Path, tmp_path: Path) -> None:
    sheet = build_datasheet(planted_run)
    assert all(q.answer is None for q in sheet.questions)
    assert len(sheet.questions) >= 15
    run = tmp_path / "run"
    shutil.copytree(planted_run, run)
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        "motivation:\n  purpose: To pretrain a small captioning model.\n"
        "uses.avoid: Medical advice.\n"
        "card:\n  license: cc-by-4.0\n  task_categories: [text-classification]\n  pretty_name: Planted\n"
    )
    write_datasheet(run, answers=answers)
    md, card = (run / "datasheet.md").read_text(), (run / "README.md").read_text()
    assert "To pretrain a small captioning model." in md
    assert "`motivation.purpose`:" not in md
    assert "TO ANSWER** `motivation.creators`" in md
    assert "Medical advice." in card
    assert "To pretrain a small captioning model." in card
    header = card_header(card)
    assert header["license"] == "cc-by-4.0"
    assert header["task_categories"] == ["text-classification"]
    assert header["pretty_name"] == "Planted"
    assert "(inferred" not in card
    assert json.loads((run / "datasheet.json").read_text())["card"]["license"] == "cc-by-4.0"
    answers.write_text("motivation:\n  purpse: typo\n")
    with pytest.raises(AnswersError, match=r"motivation\.purpse"):
        build_datasheet(run, answers=answers)


def test_rows_missing_from_disk_are_reported(planted_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(planted_run, run)
    (run / "kept" / "part-00000.parquet").unlink()
    sheet = build_datasheet(run)
    assert sheet.warnings == [f"kept files hold 0 rows, the manifest says {sheet.counts['rows_kept']}"]
