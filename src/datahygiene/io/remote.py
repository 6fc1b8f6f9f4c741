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


def _kind_check(name: str) -> tuple[bool, bool]:
    """(is a data file, is an image) for a file name, by the same suffix rules as local files."""
    from datahygiene.io.sources import _is_image_name, _kind_of_name

    return _kind_of_name(name) is not None, _is_image_name(name)


def _url(protocol: str, path: str) -> str:
    return f"{protocol}://{path}"


def expand(argument: str, images_per_shard: int) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """``(kind, url, root url, image names)`` per shard an input URL names: a file, a folder or a glob.

    A folder contributes its data files (one shard each) and its images
    (chunks of ``images_per_shard``, named relative to the folder), as for
    local folders; order is sorted by key.
    """
    from datahygiene.io.sources import InputError, _is_image_name, _kind_of_name

    fs, path = filesystem(argument)
    protocol = argument.split("://", 1)[0]
    matches = sorted(str(p) for p in fs.glob(path)) if any(char in path for char in "*?[") else [path]
    entries: list[tuple[str, str, str, tuple[str, ...]]] = []
    for match in matches:
        if fs.isdir(match):
            files = sorted(str(p) for p in fs.find(match))
            data = [f for f in files if _kind_of_name(posixpath.basename(f)) is not None]
            images = [f for f in files if _is_image_name(posixpath.basename(f))]
            for file in data:
                kind = _kind_of_name(posixpath.basename(file))
                entries.append((str(kind), _url(protocol, file), _url(protocol, posixpath.dirname(file)), ()))
            prefix = len(match.rstrip("/")) + 1
            for start in range(0, len(images), images_per_shard):
                chunk = tuple(name[prefix:] for name in images[start : start + images_per_shard])
                shard_id = f"{_url(protocol, match)}#{start // images_per_shard:05d}"
                entries.append(("images", shard_id, _url(protocol, match), chunk))
            if not data and not images:
                raise InputError(f"input folder {_url(protocol, match)!r} holds no readable data files or images")
        elif fs.exists(match):
            name = posixpath.basename(match)
            kind = _kind_of_name(name)
            parent = _url(protocol, posixpath.dirname(match))
            if kind is not None:
                entries.append((str(kind), _url(protocol, match), parent, ()))
            elif _is_image_name(name):
                entries.append(("images", _url(protocol, match), parent, (name,)))
            else:
                raise InputError(f"input {_url(protocol, match)!r} has an unsupported type")
    if not entries:
        raise InputError(f"input {argument!r} matches no file or folder")
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


def member_bytes(root: str, relative: str) -> bytes:
    """Read ``relative`` under the folder URL ``root``, refusing names that leave it."""
    normal = posixpath.normpath(relative)
    if normal.startswith("../") or normal == ".." or posixpath.isabs(normal):
        raise PermissionError(relative)
    fs, path = filesystem(root)
    read: Callable[[str], bytes] = fs.cat_file
    return read(f"{path}/{normal}")
