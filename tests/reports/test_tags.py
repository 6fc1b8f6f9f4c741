"""Tag counts over kept rows (the `tags on kept rows` table of `datahygiene inspect`)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from datahygiene.reports.tags import TagCount, is_tag_column, kept_tag_counts

TAGS = pa.list_(pa.string())


def _write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def test_counts_rows_per_tag_across_files(tmp_path: Path) -> None:
    _write(
        tmp_path / "kept" / "part-00000.parquet",
        pa.table(
            {
                "id": ["a", "b", "c"],
                "copyright_signals": pa.array([["notice", "notice"], None, ["license:nc", "notice"]], TAGS),
                "likeness_evidence": pa.array([["person_name: X"], [], []], TAGS),
                "reject_reasons": pa.array([[], [], []], TAGS),
                "embedding_ids": pa.array([[1], [2], [3]], pa.list_(pa.int64())),
            }
        ),
    )
    _write(
        tmp_path / "kept" / "part-00001.parquet",
        pa.table({"id": ["d", "e"], "copyright_signals": pa.array([[], ["notice"]], TAGS)}),
    )
    _write(tmp_path / "kept" / "part-00002.parquet", pa.table({"id": ["f"], "text": ["no tag column"]}))
    _write(  # not kept: never counted
        tmp_path / "rejected" / "part-00000.parquet",
        pa.table({"id": ["g"], "copyright_signals": pa.array([["opt_out:robots"]], TAGS)}),
    )
    assert kept_tag_counts(tmp_path) == {
        ("copyright_signals", "notice"): TagCount(3, "a"),  # a once (listed twice), c, e
        ("copyright_signals", "license:nc"): TagCount(1, "c"),
    }


def test_counts_over_several_batches_keep_the_first_example(tmp_path: Path) -> None:
    tags = [["face"] if i % 3 == 0 else [] for i in range(200_000)]
    ids = [f"r{i}" for i in range(200_000)]
    _write(tmp_path / "kept" / "part-00000.parquet", pa.table({"id": ids, "likeness_signals": pa.array(tags, TAGS)}))
    assert kept_tag_counts(tmp_path) == {("likeness_signals", "face"): TagCount(66_667, "r0")}


def test_no_kept_rows(tmp_path: Path) -> None:
    assert kept_tag_counts(tmp_path) == {}


def test_which_columns_are_tags() -> None:
    assert is_tag_column(pa.field("synthetic_signals", TAGS))
    assert is_tag_column(pa.field("nsfw_labels", pa.large_list(pa.large_string())))
    for field in (
        pa.field("reject_reasons", TAGS),
        pa.field("synthetic_evidence", TAGS),
        pa.field("blocklist_hits", TAGS),
        pa.field("copyright_evidence", pa.list_(pa.struct([("signal", pa.string())]))),
        pa.field("text", pa.string()),
    ):
        assert not is_tag_column(field), field.name
