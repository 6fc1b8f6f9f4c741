"""Names and types of the columns the runner itself owns (the output contract)."""

from __future__ import annotations

import pyarrow as pa

ID = "id"
TEXT = "text"
IMAGE = "image"
URL = "url"
LICENSE = "license"
RAW = "raw"
#: JSON text of the non-role fields of JSONL / WebDataset rows.
METADATA = "metadata"
REJECT_REASONS = "reject_reasons"
SOURCE_SHARD = "source_shard"
SOURCE_ROW = "source_row"

#: Canonical roles, in output order, and the names that detect them.
ROLES: dict[str, tuple[str, ...]] = {
    ID: ("id", "uid", "key", "__key__", "sample_id", "doc_id"),
    TEXT: ("text", "caption", "content", "txt", "body"),
    IMAGE: ("image", "img", "jpg", "jpeg", "png", "webp", "image_bytes", "image_path"),
    URL: ("url", "source_url", "page_url"),
    LICENSE: ("license", "licence", "license_name"),
}

#: The Hugging Face ``Image`` feature's storage type, so outputs load as images.
IMAGE_TYPE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])

ROLE_TYPES: dict[str, pa.DataType] = {
    ID: pa.string(),
    TEXT: pa.string(),
    IMAGE: IMAGE_TYPE,
    URL: pa.string(),
    LICENSE: pa.string(),
}

#: Added to every output row: original bytes of rows that could not be represented
#: (malformed JSON lines, invalid UTF-8), where the row came from, and the verdict.
TRAILER_FIELDS: tuple[pa.Field, ...] = (
    pa.field(RAW, pa.binary()),
    pa.field(SOURCE_SHARD, pa.string()),
    pa.field(SOURCE_ROW, pa.int64()),
)
REASONS_FIELD = pa.field(REJECT_REASONS, pa.list_(pa.string()))

#: Columns every batch has before any stage runs (passthrough input columns vary by input and come before the
#: trailer in the output files).
BASE_SCHEMA = pa.schema(
    [
        *(pa.field(role, ROLE_TYPES[role]) for role in ROLES),
        pa.field(METADATA, pa.string()),
        *TRAILER_FIELDS,
    ]
)
