"""A folder of intermediate files that tasks on different machines share: a local folder, or a prefix in a store.

The partitioned dedup phase passes its work between tasks as files (features, key records, edges, decisions).
On a filesystem every worker sees (the output folder of a local run) they are plain files; under an object
store URL (``s3://bucket/run/_tmp/dedup/KEY``) each is one object. Every write is atomic: a local file goes
through a temporary name and a rename (no fsync: a killed task leaves the old file or the new one, and a
rerun of the phase rewrites the same bytes), an object is one PUT. A :class:`WorkArea` is small and picklable,
so it travels to Dask or Ray workers as a task argument.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from datahygiene.io.storage import Store, is_url, local_path


class WorkArea:
    """Named files under one location (a local folder or a store URL); names use ``/`` as separator."""

    def __init__(self, location: str | Path) -> None:
        self.location = str(location).rstrip("/")
        self._store: Store | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"location": self.location}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.location, self._store = state["location"], None

    def __repr__(self) -> str:
        return f"WorkArea({self.location!r})"

    @property
    def remote(self) -> bool:
        """Whether the files are objects in a store."""
        return is_url(self.location)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.location)
        return self._store

    def path(self, name: str) -> Path:
        """The local path of ``name`` (local work areas only)."""
        return local_path(self.location) / name

    def child(self, name: str) -> WorkArea:
        """The work area of a sub-folder."""
        return WorkArea(f"{self.location}/{name}")

    # -- bytes ---------------------------------------------------------------------------------------
    def write_bytes(self, name: str, data: bytes) -> None:
        """Write a whole file atomically."""
        if self.remote:
            self.store.put_bytes(name, data)
            return
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        temporary.write_bytes(data)
        temporary.replace(target)

    def read_bytes(self, name: str) -> bytes:
        if self.remote:
            return self.store.read_bytes(name)
        return self.path(name).read_bytes()

    def _put_local(self, name: str, write: Any) -> None:
        """Write through ``write(path)`` into a local temporary file, then rename it (or PUT it) into place."""
        if self.remote:
            with tempfile.TemporaryDirectory(prefix="datahygiene-work-") as folder:
                local = Path(folder) / "file"
                write(local)
                self.store.put_file(local, name)
            return
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        write(temporary)
        temporary.replace(target)

    # -- arrays, tables, JSON ------------------------------------------------------------------------
    def save_array(self, name: str, array: npt.NDArray[Any]) -> None:
        """An ``.npy`` file."""

        def write(path: Path) -> None:
            with path.open("wb") as handle:
                np.save(handle, array, allow_pickle=False)

        self._put_local(name, write)

    def load_array(self, name: str) -> npt.NDArray[Any]:
        if self.remote:
            return np.load(io.BytesIO(self.read_bytes(name)), allow_pickle=False)  # type: ignore[no-any-return]
        return np.load(self.path(name), allow_pickle=False)  # type: ignore[no-any-return]

    def save_arrays(self, name: str, arrays: dict[str, npt.NDArray[Any]]) -> None:
        """Several arrays in one ``.npz`` file (one object in a store)."""

        def write(path: Path) -> None:
            with path.open("wb") as handle:
                np.savez(handle, **arrays)  # type: ignore[arg-type]

        self._put_local(name, write)

    def load_arrays(self, name: str) -> dict[str, npt.NDArray[Any]]:
        source: Any = io.BytesIO(self.read_bytes(name)) if self.remote else self.path(name)
        with np.load(source, allow_pickle=False) as loaded:
            return {key: loaded[key] for key in loaded.files}

    def write_table(self, name: str, table: pa.Table) -> None:
        """A Parquet file."""
        self._put_local(name, lambda path: pq.write_table(table, path))

    def read_table(self, name: str, **options: Any) -> pa.Table:
        """A Parquet file (``options`` go to ``pyarrow.parquet.read_table``: columns, filters)."""
        if self.remote:
            return pq.read_table(pa.py_buffer(self.read_bytes(name)), **options)
        return pq.read_table(self.path(name), **options)

    def write_json(self, name: str, value: Any) -> None:
        self.write_bytes(name, (json.dumps(value, indent=1, sort_keys=True) + "\n").encode())

    def read_json(self, name: str) -> Any:
        return json.loads(self.read_bytes(name))

    # -- listing and cleaning ------------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        if self.remote:
            return self.store.exists(name)
        return self.path(name).exists()

    def names(self, prefix: str = "") -> list[str]:
        """Every file under ``prefix`` (relative names, sorted; temporary files left out)."""
        if self.remote:
            return self.store.listing(prefix)
        base = self.path(prefix) if prefix else local_path(self.location)
        if not base.is_dir():
            return []
        root = local_path(self.location)
        return sorted(
            path.relative_to(root).as_posix()
            for path in base.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )

    def remove(self, prefix: str = "") -> None:
        """Delete everything under ``prefix`` (everything when empty)."""
        if self.remote:
            self.store.remove(self.store.listing(prefix))
            return
        target = self.path(prefix) if prefix else local_path(self.location)
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        elif target.exists():
            target.unlink()
