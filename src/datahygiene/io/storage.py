"""Object storage through fsspec: URLs (``s3://``, ``gs://``, ``az://``, ``hf://`` ...) where paths are taken.

Local paths never come here: they keep the plain :mod:`pathlib` code path.
Credentials and endpoints come from where each library looks (environment,
profiles, ``AWS_ENDPOINT_URL`` for S3-compatible stores); ``fsspec``'s
``FSSPEC_S3_*`` variables work too. The filesystem libraries are optional
extras (``pip install 'datahygiene[s3]'``, ``[gcs]``, ``[azure]``, ``[cloud]``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
#: scheme -> (driver package, datahygiene extra that installs it)
_DRIVERS = {
    "s3": ("s3fs", "s3"),
    "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcs"),
    "gcs": ("gcsfs", "gcs"),
    "az": ("adlfs", "azure"),
    "abfs": ("adlfs", "azure"),
    "abfss": ("adlfs", "azure"),
    "adl": ("adlfs", "azure"),
}
#: The AWS SDK logs every credential and endpoint lookup at INFO; runs log at INFO.
_QUIET = ("botocore", "aiobotocore")
_BLOCK = 8 << 20


class StorageError(RuntimeError):
    """A URL that cannot be used: unknown scheme, missing extra, unreachable store."""


def is_url(value: str | Path) -> bool:
    """Whether ``value`` is a URL with a scheme (``s3://...``), not a local path (``hf:`` specs are not URLs)."""
    return isinstance(value, str) and bool(_URL.match(value)) and not value.startswith("file://")


def local_path(value: str | Path) -> Path:
    """``value`` as a local path (``file://`` stripped)."""
    if isinstance(value, str) and value.startswith("file://"):
        return Path(value[len("file://") :])
    return Path(value)


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path inside it (no trailing slash)."""
    import fsspec

    scheme = url.split("://", 1)[0].lower()
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.getLogger(name).level, logging.WARNING))
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as error:
        driver = _DRIVERS.get(scheme)
        hint = f": pip install {driver[0]} (the datahygiene extra {driver[1]!r})" if driver else ""
        raise StorageError(f"{url}: the {scheme}:// filesystem is not installed{hint}") from error
    except ValueError as error:
        raise StorageError(f"{url}: {error}") from error
    return fs, str(path).rstrip("/")


def precondition_failed(error: BaseException) -> bool:
    """Whether ``error`` is an object store's 412 (a conditional write lost the race)."""
    text = str(error)
    return isinstance(error, FileExistsError) or "PreconditionFailed" in text or "pre-condition" in text


@dataclass(frozen=True)
class Store:
    """A folder in an object store: relative keys under ``root``."""

    fs: Any
    root: str
    url: str

    @classmethod
    def open(cls, url: str) -> Store:
        """The store a URL names."""
        fs, root = filesystem(url)
        return cls(fs=fs, root=root, url=url.rstrip("/"))

    @property
    def protocol(self) -> str:
        protocol = self.fs.protocol
        return str(protocol[0] if isinstance(protocol, tuple | list) else protocol)

    def key(self, relative: str) -> str:
        """The full object path of a relative name."""
        return f"{self.root}/{relative}" if relative else self.root

    def name(self, relative: str) -> str:
        """The URL of a relative name (for messages)."""
        return f"{self.url}/{relative}" if relative else self.url

    def exists(self, relative: str) -> bool:
        self.fs.invalidate_cache(self.key(relative))
        return bool(self.fs.exists(self.key(relative)))

    def read_bytes(self, relative: str) -> bytes:
        return cast(bytes, self.fs.cat_file(self.key(relative)))

    def put_bytes(self, relative: str, data: bytes) -> None:
        """One PUT (atomic on object stores: readers see the old object or the new one)."""
        self.fs.pipe_file(self.key(relative), data)

    def put_file(self, local: Path, relative: str) -> None:
        self.fs.put_file(str(local), self.key(relative))

    def get_file(self, relative: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        self.fs.get_file(self.key(relative), str(local))

    def open_read(self, relative: str) -> IO[bytes]:
        return cast(IO[bytes], self.fs.open(self.key(relative), "rb"))

    def size(self, relative: str) -> int:
        return int(self.fs.size(self.key(relative)))

    def listing(self, prefix: str = "") -> list[str]:
        """Relative names of every object under ``prefix`` (recursive, sorted)."""
        base = self.key(prefix)
        self.fs.invalidate_cache(base)
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        start = len(self.root) + 1
        return sorted(str(path)[start:] for path in found if str(path).startswith(self.root + "/"))

    def remove(self, relatives: list[str]) -> None:
        if relatives:
            self.fs.rm([self.key(r) for r in relatives])

    def sha256(self, relative: str) -> str:
        """Hex sha256 of an object's bytes, streamed."""
        digest = hashlib.sha256()
        with self.open_read(relative) as handle:
            for block in iter(lambda: handle.read(_BLOCK), b""):
                digest.update(block)
        return digest.hexdigest()


@contextmanager
def open_binary(location: str | Path) -> Iterator[IO[bytes]]:
    """A readable binary file for a local path or a URL."""
    if is_url(location):
        fs, path = filesystem(str(location))
        with fs.open(path, "rb") as handle:
            yield cast(IO[bytes], handle)
    else:
        with local_path(location).open("rb") as handle:
            yield handle
