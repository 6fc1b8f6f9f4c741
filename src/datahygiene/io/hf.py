"""Hugging Face ``datasets`` streams (``hf:PATH?...`` inputs) as Arrow batches, imported when used."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from datahygiene.io.batches import SourceBatch

log = logging.getLogger(__name__)


def load(path: str, args: dict[str, str]) -> Any:
    """``datasets.load_dataset(path, streaming=True, ...)`` with the spec's ``split``, ``name``, ``data_files``."""
    import datasets

    options: dict[str, Any] = {"streaming": True, "split": args.get("split", "train")}
    if "name" in args:
        options["name"] = args["name"]
    if "data_files" in args:
        options["data_files"] = args["data_files"].split(",")
    if "data_dir" in args:
        options["data_dir"] = args["data_dir"]
    return datasets.load_dataset(path, **options)


def read(spec: dict[str, str], part: tuple[int, int] | None, name: str, batch_size: int) -> Iterator[SourceBatch]:
    """Arrow batches of one ``datasets`` shard (``part``: number, count); if Arrow formatting fails, row by row."""
    args = dict(spec)
    dataset = load(args.pop("path"), args)
    if part is not None and part[1] > 1:
        number, count = part
        dataset = dataset.shard(num_shards=count, index=number)
    done = 0
    schema: pa.Schema | None = None
    try:
        for table in dataset.with_format("arrow").iter(batch_size=batch_size):
            for records in table.to_batches():
                schema = records.schema
                done += records.num_rows
                yield SourceBatch(records=records)
        return
    except pa.ArrowInvalid as error:
        # datasets' Arrow formatter concatenates samples whose inferred schemas differ (WebDataset JSON
        # members with varying fields); plain iteration casts each sample to the dataset's features instead.
        log.warning(
            "%s: datasets' Arrow formatting failed after %d rows (%s); reading the rest row by row. Fields the "
            "dataset's features lack are dropped by datasets; read the files directly to keep them",
            name,
            done,
            str(error).splitlines()[0],
        )
    yield from _hf_rows(dataset, batch_size, skip=done, schema=schema)


def _hf_rows(dataset: Any, batch_size: int, *, skip: int, schema: pa.Schema | None) -> Iterator[SourceBatch]:
    """Plain iteration of a ``datasets`` stream (images left encoded) as Arrow batches of ``schema``.

    ``schema`` is that of the batches already read (so a shard keeps one schema), else the dataset's features.
    """
    plain = dataset.decode(False)
    target = schema if schema is not None else plain.features.arrow_schema
    rows = itertools.islice(iter(plain), skip, None)
    while chunk := list(itertools.islice(rows, batch_size)):
        yield SourceBatch(records=pa.RecordBatch.from_pylist(chunk, schema=target))
