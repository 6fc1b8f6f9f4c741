"""``--input`` URLs: files, folders and globs in object stores, found and fingerprinted through fsspec.

The readers in :mod:`datahygiene.io.sources` read a remote shard through the
file-like object :func:`datahygiene.io.storage.open_binary` gives them, so
every format reads the same way from a bucket as from disk.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable
from typing import Any

from datahygiene.io.storage import filesystem


def _url(protocol: str, path: str) -> str:
    return f"{protocol}://{path}"


class NothingFoundError(LookupError):
    """An input URL that names no readable file."""


def expand(
    argument: str,
    images_per_shard: int,
    kind_of: Callable[[str], str | None],
    is_image: Callable[[str], bool],
) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """``(kind, url, root url, image names)`` per shard an input URL names: a file, a folder or a glob.

    ``kind_of`` and ``is_image`` classify file names (the rules local files
    follow). A folder contributes its data files (one shard each) and its
    images (chunks of ``images_per_shard``, named relative to the folder), as
    for local folders; order is sorted by key.
    """
    fs, path = filesystem(argument)
    protocol = argument.split("://", 1)[0]
    matches = sorted(str(p) for p in fs.glob(path)) if any(char in path for char in "*?[") else [path]
    entries: list[tuple[str, str, str, tuple[str, ...]]] = []
    for match in matches:
        if fs.isdir(match):
            files = sorted(str(p) for p in fs.find(match))
            data = [f for f in files if kind_of(posixpath.basename(f)) is not None]
            images = [f for f in files if is_image(posixpath.basename(f))]
            for file in data:
                kind = kind_of(posixpath.basename(file))
                entries.append((str(kind), _url(protocol, file), _url(protocol, posixpath.dirname(file)), ()))
            prefix = len(match.rstrip("/")) + 1
            for start in range(0, len(images), images_per_shard):
                chunk = tuple(name[prefix:] for name in images[start : start + images_per_shard])
                shard_id = f"{_url(protocol, match)}#{start // images_per_shard:05d}"
                entries.append(("images", shard_id, _url(protocol, match), chunk))
            if not data and not images:
                raise NothingFoundError(
                    f"input folder {_url(protocol, match)!r} holds no readable data files or images"
                )
        elif fs.exists(match):
            name = posixpath.basename(match)
            kind = kind_of(name)
            parent = _url(protocol, posixpath.dirname(match))
            if kind is not None:
                entries.append((str(kind), _url(protocol, match), parent, ()))
            elif is_image(name):
                entries.append(("images", _url(protocol, match), parent, (name,)))
            else:
                raise NothingFoundError(f"input {_url(protocol, match)!r} has an unsupported type")
    if not entries:
        raise NothingFoundError(f"input {argument!r} matches no file or folder")
    return entries


def _stamp(info: dict[str, Any]) -> str:
    """What changes when an object changes: size plus ETag (S3), md5/generation (GCS) or mtime."""
    keys = ("ETag", "etag", "md5Hash", "generation", "LastModified", "last_modified", "mtime", "updated")
    marks = [f"{key}={info[key]}" for key in keys if info.get(key) is not None]
    return f"{info.get('size')}|{'|'.join(marks)}"


def fingerprint(seed: str, url: str, members: tuple[str, ...]) -> str:
    """Identity of a remote shard's content: its URL(s) and each object's size and ETag/mtime."""
    fs, path = filesystem(url)
    digest = hashlib.sha256(seed.encode())
    if members:
        fs.invalidate_cache(path)
        listed: dict[str, Any] = fs.find(path, detail=True) if fs.isdir(path) else {}
        for name in members:
            key = f"{path}/{name}" if listed else path
            info = listed.get(key) or fs.info(key)
            digest.update(f"|{name}|{_stamp(info)}".encode())
    else:
        fs.invalidate_cache(path)
        digest.update(f"|{url}|{_stamp(fs.info(path))}".encode())
    return digest.hexdigest()


def total_size(url: str, members: tuple[str, ...]) -> int:
    """Bytes of a remote shard's objects (the data file, or ``members`` under the folder ``url``); 0 if unknown."""
    fs, path = filesystem(url)
    try:
        if not members:
            return int(fs.info(path).get("size") or 0)
        listed: dict[str, Any] = fs.find(path, detail=True)
        return sum(int((listed.get(f"{path}/{name}") or {}).get("size") or 0) for name in members)
    except OSError:
        return 0  # reading the shard reports the problem


def member_bytes(root: str, relative: str) -> bytes:
    """Read ``relative`` under the folder URL ``root``, refusing names that leave it."""
    normal = posixpath.normpath(relative)
    if normal.startswith("../") or normal == ".." or posixpath.isabs(normal):
        raise PermissionError(relative)
    fs, path = filesystem(root)
    read: Callable[[str], bytes] = fs.cat_file
    return read(f"{path}/{normal}")
