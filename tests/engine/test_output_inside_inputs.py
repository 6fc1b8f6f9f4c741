"""The output-inside-input refusal (issue 16: 8) for globs and for object-store URLs (no store is called)."""

from __future__ import annotations

from pathlib import Path

import pytest

from datahygiene.engine.plan import OutputPathError, check_output_outside_inputs
from datahygiene.io.sources import ShardSource

BUCKET = "s3://bucket/data"


def _remote(url: str, members: tuple[str, ...] = ()) -> ShardSource:
    if members:
        return ShardSource(0, "images", url, None, None, url=url, members=members)
    return ShardSource(0, "jsonl", url, None, None, url=url)


@pytest.mark.parametrize(
    ("inputs", "shards", "output"),
    [
        ([BUCKET], [_remote(f"{BUCKET}/a.jsonl")], f"{BUCKET}/out"),
        ([BUCKET + "/"], [_remote(f"{BUCKET}/sub/a.jsonl")], f"{BUCKET}/sub/out/"),
        ([BUCKET], [_remote(BUCKET, ("cat.jpg",))], f"{BUCKET}/out"),  # a folder of images only
        ([f"{BUCKET}/*"], [_remote(f"{BUCKET}/a.jsonl")], f"{BUCKET}/runs/out"),
        ([f"{BUCKET}/**/*.jsonl"], [_remote(f"{BUCKET}/a.jsonl")], f"{BUCKET}/runs/out"),
        (["s3://bucket/x.jsonl"], [_remote("s3://bucket/runs/out/kept/a.jsonl")], "s3://bucket/runs/out"),
    ],
)
def test_an_object_store_output_the_inputs_would_read_is_refused(
    inputs: list[str], shards: list[ShardSource], output: str
) -> None:
    with pytest.raises(OutputPathError, match="inside the"):
        check_output_outside_inputs(output, inputs, shards)


@pytest.mark.parametrize(
    ("inputs", "shards", "output"),
    [
        ([f"{BUCKET}/a.jsonl"], [_remote(f"{BUCKET}/a.jsonl")], f"{BUCKET}/out"),  # a file, not a folder
        ([BUCKET], [_remote(f"{BUCKET}/a.jsonl")], "s3://bucket/elsewhere/out"),
        ([BUCKET], [_remote(f"{BUCKET}/a.jsonl")], "gs://bucket/data/out"),  # another store
        ([f"{BUCKET}/*.jsonl"], [_remote(f"{BUCKET}/a.jsonl")], f"{BUCKET}/out"),  # the glob cannot reach it
    ],
)
def test_an_object_store_output_beside_the_inputs_is_accepted(
    inputs: list[str], shards: list[ShardSource], output: str
) -> None:
    check_output_outside_inputs(output, inputs, shards)


def test_a_local_output_and_a_url_input_do_not_meet(tmp_path: Path) -> None:
    check_output_outside_inputs(tmp_path / "bucket" / "data" / "out", [BUCKET], [_remote(f"{BUCKET}/a.jsonl")])
