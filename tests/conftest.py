"""Shared fixtures: offline settings and small datasets built in code."""

from __future__ import annotations

import atexit
import io
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# ONNX exports of the text models go to a per-session folder, never the user's ~/.cache (subprocesses inherit it)
if "DATAHYGIENE_CACHE_DIR" not in os.environ:
    os.environ["DATAHYGIENE_CACHE_DIR"] = tempfile.mkdtemp(prefix="datahygiene-test-cache-")
    atexit.register(shutil.rmtree, os.environ["DATAHYGIENE_CACHE_DIR"], ignore_errors=True)

REPO = Path(__file__).resolve().parents[1]


def jpeg_bytes(size: tuple[int, int] = (32, 24), colour: str = "red", quality: int = 90) -> bytes:
    """A small real JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png_bytes(size: tuple[int, int] = (32, 24), colour: str = "blue") -> bytes:
    """A small real PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def write_parquet(tmp_path: Path) -> Callable[..., Path]:
    """Write a table of Python columns to ``tmp_path/name``."""

    def write(name: str, columns: dict[str, Any], schema: pa.Schema | None = None) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(columns, schema=schema), path)
        return path

    return write


def eval_data_dir() -> Path | None:
    """The shared evaluation data, if it is beside the checkout (or named by env)."""
    candidate = Path(os.environ.get("DATAHYGIENE_EVAL_DATA", REPO.parent / "shared" / "eval-data"))
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a SeaweedFS S3 gateway started once for the session (see tests/s3server.py)."""
    from tests.s3server import seaweedfs

    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A new, empty bucket for one test; returns ``s3://NAME``."""
    import s3fs

    name = f"t{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(endpoint_url=s3_endpoint).mkdir(name)
    return f"s3://{name}"
