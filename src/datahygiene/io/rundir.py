"""A run's output directory: a local folder, or a folder in an object store (a URL).

Local folders keep the rename-based commit of :mod:`datahygiene.io.sink`
(same code, same speed). In an object store there is no atomic rename, but a
PUT is atomic, so a shard commits in two steps: every part file and state
file is PUT under its final name, then the commit record that names them
(``_commits/NNNNN.json``). A file no commit record names is not part of the
run; a resumed run removes such leftovers before it writes anything
(:meth:`RunDir.clean_uncommitted`). The engine works in a local *work folder*
(staging, spill files, the state of committed shards); for a URL that is a
temporary folder, and the state of committed shards is downloaded into it on
resume (:meth:`RunDir.fetch_state`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol

from datahygiene.io.lease import LOCK_NAME, ObjectLock
from datahygiene.io.storage import Store, is_url, local_path

ROUTES = ("kept", "rejected", "quarantined")
#: Top-level names a run writes that are not shard outputs (kept by the uncommitted-file sweep).
_RUN_FILES = ("_run.json", "config.json", "manifest.json", LOCK_NAME)
_DOCUMENT_PREFIXES = ("datasheet", "README")


def fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, fsync and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    fsync_dir(path.parent)


def json_bytes(value: Any) -> bytes:
    """Pretty, key-sorted JSON as written for every run file."""
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


def atomic_write_json(path: Path, value: Any) -> None:
    """Write pretty, key-sorted JSON atomically."""
    atomic_write_bytes(path, json_bytes(value))


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class NotARunError(FileNotFoundError):
    """The directory holds no readable ``manifest.json``: not a finished run."""


class RunLock(Protocol):
    """The output's lock, held while a run commits."""

    def check(self) -> None: ...

    def release(self) -> None: ...


class _FileLock:
    """``flock`` on ``_tmp/lock`` (released when the process dies)."""

    def __init__(self, descriptor: int) -> None:
        self.descriptor: int | None = descriptor

    def check(self) -> None:
        pass

    def release(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None


class RunDir:
    """Names and storage of one run's output: local paths (``root``), or a :class:`Store` plus a work folder."""

    def __init__(self, root: Path | str, store: Store | None = None) -> None:
        self._root = None if store is not None else local_path(root)
        self.store = store
        self._lock: RunLock | None = None
        #: (device, inode) of each state file already in the store -> its key (hard links are not uploaded twice)
        self._state_keys: dict[tuple[int, int], str] = {}

    @classmethod
    def at(cls, output: str | Path) -> RunDir:
        """The run directory an ``--output`` argument names (a path or a URL)."""
        if is_url(str(output)):
            return cls("", Store.open(str(output)))
        return cls(output)

    # -- names -------------------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        """The local folder: the output itself, or (for a URL) this process's work folder."""
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="datahygiene-run-"))
        return self._root

    @property
    def remote(self) -> bool:
        return self.store is not None

    @property
    def location(self) -> Path | str:
        """What the user named: the local folder, or the URL."""
        return self.store.url if self.store is not None else self.root

    @property
    def name(self) -> str:
        return str(self.location)

    def describe(self, relative: str) -> str:
        """A relative name as the user would write it (for messages)."""
        return self.store.name(relative) if self.store is not None else str(self.root / relative)

    def part_name(self, index: int) -> str:
        return f"part-{index:05d}.parquet"

    def staging(self, index: int, tag: str = "") -> Path:
        return self.root / "_tmp" / f"{index:05d}{tag}"

    def state_dir(self, index: int) -> Path:
        return self.root / "_state" / f"{index:05d}"

    def commit_name(self, index: int) -> str:
        return f"_commits/{index:05d}.json"

    def commit_path(self, index: int) -> Path:
        return self.root / self.commit_name(index)

    @property
    def identity_path(self) -> Path:
        return self.root / "_run.json"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    # -- reading and writing whole files -------------------------------------------------------------
    def exists(self, relative: str) -> bool:
        if self.store is not None:
            return self.store.exists(relative)
        return (self.root / relative).exists()

    def read_json(self, relative: str) -> Any:
        if self.store is not None:
            return json.loads(self.store.read_bytes(relative))
        return json.loads((self.root / relative).read_text(encoding="utf-8"))

    def read_manifest(self) -> dict[str, Any]:
        """The finished run's manifest; :class:`NotARunError` (one line) when there is none or it is not JSON."""
        where = self.describe("manifest.json")
        try:
            manifest = self.read_json("manifest.json")
        except FileNotFoundError:
            raise NotARunError(f"{self.name} has no manifest.json (not a finished run?)") from None
        except NotADirectoryError:
            raise NotARunError(f"{self.name} is not a directory (not a run's output?)") from None
        except (UnicodeDecodeError, ValueError) as error:
            raise NotARunError(f"{where} is not a valid manifest: {error}") from None
        except OSError as error:  # a folder of that name, no permission, an unreachable store
            raise NotARunError(f"{where} cannot be read: {error.strerror or error}") from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), list):
            raise NotARunError(f"{where} is not a datahygiene manifest")
        return manifest

    def write_json(self, relative: str, value: Any) -> None:
        """Write a JSON file atomically (rename locally, one PUT in a store)."""
        if self.store is not None:
            self.store.put_bytes(relative, json_bytes(value))
        else:
            atomic_write_json(self.root / relative, value)

    @contextmanager
    def open_read(self, relative: str) -> Iterator[IO[bytes]]:
        """A committed file opened for reading (pyarrow reads Parquet from it)."""
        if self.store is not None:
            with self.store.open_read(relative) as handle:
                yield handle
        else:
            with (self.root / relative).open("rb") as handle:
                yield handle

    def sha256(self, relative: str) -> str:
        if self.store is not None:
            return self.store.sha256(relative)
        return sha256_file(self.root / relative)

    def route_files(self, route: str) -> list[str]:
        """Relative names of the Parquet files in one route folder, sorted."""
        if self.store is not None:
            return [name for name in self.store.listing(route) if name.endswith(".parquet")]
        return [f"{route}/{path.name}" for path in sorted((self.root / route).glob("*.parquet"))]

    # -- the run's life ----------------------------------------------------------------------------
    def start(self, identity: dict[str, Any], config: dict[str, Any]) -> None:
        """Write ``config.json`` and ``_run.json`` (the run exists from then on)."""
        if self.store is not None:
            self.store.put_bytes("config.json", json.dumps(config, indent=2, sort_keys=True).encode())
            self.write_json("_run.json", identity)
            return
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        atomic_write_json(self.identity_path, identity)

    def committed(self) -> dict[int, dict[str, Any]]:
        """Commit records by shard index."""
        records: dict[int, dict[str, Any]] = {}
        if self.store is not None:
            names = [n for n in self.store.listing("_commits") if n.endswith(".json")]
            if names:
                contents = self.store.fs.cat([self.store.key(n) for n in names])
                for name in names:
                    records[int(Path(name).stem)] = json.loads(contents[self.store.key(name)])
            return records
        directory = self.root / "_commits"
        if directory.is_dir():
            for path in sorted(directory.glob("*.json")):
                records[int(path.stem)] = json.loads(path.read_text())
        return records

    def is_empty(self) -> bool:
        """No output yet; work in progress (``_tmp``, e.g. shards a flow scored before it crashed) does not count."""
        if self.store is not None:
            return all(name.startswith("_tmp/") or name == LOCK_NAME for name in self.store.listing())
        return not self.root.exists() or all(path.name == "_tmp" for path in self.root.iterdir())

    def lock(self) -> RunLock:
        """Hold the run's lock; raises ``BlockingIOError`` when another process holds it.

        Two runs committing into one directory would break exactly-once.
        Locally an ``flock`` (released when the process dies); in an object
        store a lock object (see :mod:`datahygiene.io.lease`).
        """
        if self.store is not None:
            held = ObjectLock(self.store)
            held.acquire()
            self._lock = held
            return held
        path = self.root / "_tmp" / "lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            raise
        self._lock = _FileLock(descriptor)
        return self._lock

    def write_commit_record(self, index: int, record: dict[str, Any]) -> None:
        """Write a shard's commit record, the commit point (in a store: only while this run holds the lock)."""
        if self.store is not None:
            self.check_lock()
            self.store.put_bytes(self.commit_name(index), json_bytes(record))
        else:
            atomic_write_json(self.commit_path(index), record)

    def check_lock(self) -> None:
        """Raise unless this process still holds the lock (before each commit record in a store)."""
        if self._lock is not None:
            self._lock.check()

    def close(self) -> None:
        """Remove the work folder of a URL run (the local state of a local run stays)."""
        if self.store is not None and self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
            self._state_keys.clear()

    # -- object-store commits ----------------------------------------------------------------------
    def upload_state(self, index: int, local: Path) -> dict[str, str]:
        """PUT a shard's state files; ``{relative name: key}``, hard links of earlier files point at their key."""
        assert self.store is not None
        named: dict[str, str] = {}
        if not local.exists():
            return named
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            relative = path.relative_to(local).as_posix()
            stat = path.stat()
            earlier = self._state_keys.get((stat.st_dev, stat.st_ino))
            if earlier is not None:
                named[relative] = earlier
                continue
            key = f"_state/{index:05d}/{relative}"
            self.store.put_file(path, key)
            named[relative] = key
        return named

    def remember_state(self, index: int, named: dict[str, str]) -> None:
        """Note which store key each committed state file of a shard is (after the commit record is written)."""
        folder = self.state_dir(index)
        for relative, key in named.items():
            stat = (folder / relative).stat()
            self._state_keys[(stat.st_dev, stat.st_ino)] = key

    def fetch_state(self, committed: dict[int, dict[str, Any]]) -> None:
        """Download the state of committed shards into the work folder (no-op for a local run)."""
        if self.store is None:
            return
        local_of: dict[str, Path] = {}
        for index in sorted(committed):
            folder = self.state_dir(index)
            named: dict[str, str] = committed[index].get("state") or {}
            for relative, key in named.items():
                target = folder / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                if key in local_of:
                    os.link(local_of[key], target)
                else:
                    self.store.get_file(key, target)
                    local_of[key] = target
            folder.mkdir(parents=True, exist_ok=True)
            self.remember_state(index, named)

    def clean_uncommitted(self, committed: dict[int, dict[str, Any]]) -> list[str]:
        """Remove outputs and state that no commit record names (an interrupted commit's); returns them."""
        if self.store is None:
            return []
        named: set[str] = set()
        for record in committed.values():
            for files in record.get("files", {}).values():
                named.update(entry["path"] for entry in files)
            named.update((record.get("state") or {}).values())
        stray = [
            name for name in self.store.listing() if name.split("/", 1)[0] in (*ROUTES, "_state") and name not in named
        ]
        self.store.remove(stray)
        return stray

    def remove_prefix(self, prefix: str) -> None:
        """Remove everything under ``prefix`` (spools once a run finished)."""
        if self.store is not None:
            self.store.remove(self.store.listing(prefix))
        else:
            shutil.rmtree(self.root / prefix, ignore_errors=True)

    @contextmanager
    def local_view(self, *, write_back: bool = False) -> Iterator[Path]:
        """A local folder with the run's documents and Parquet files, for the report code.

        A local run is its own view. For a URL the manifest, config and route
        files are downloaded into a temporary folder; with ``write_back``, files
        the block writes at the top level (datasheet, README) are uploaded.
        """
        if self.store is None:
            yield self.root
            return
        store = self.store
        with tempfile.TemporaryDirectory(prefix="datahygiene-view-") as folder:
            view = Path(folder)
            names = [n for n in store.listing() if n in _RUN_FILES or n.split("/", 1)[0] in ROUTES]
            if names:
                store.fs.get([store.key(n) for n in names], [str(view / n) for n in names])
            before = {p: p.stat().st_mtime_ns for p in view.rglob("*") if p.is_file()}
            yield view
            if write_back:
                for path in sorted(p for p in view.rglob("*") if p.is_file()):
                    relative = path.relative_to(view).as_posix()
                    is_document = relative.split("/", 1)[0].startswith(_DOCUMENT_PREFIXES)
                    if is_document and before.get(path) != path.stat().st_mtime_ns:
                        store.put_file(path, relative)
