"""Read files named by relative paths under one local folder, refusing paths that leave it.

The folder is resolved once. A plain relative path (no ``..``, no doubled or trailing separators) is checked by
``lstat`` of its own components only; any symlink on the way, or any other path, is checked by resolving it in
full, as :func:`os.path.realpath` does. A batch's files are read on the image decoders' threads (reads release
the GIL, so the threads overlap them).
"""

# ruff: noqa: PTH117, PTH118, PTH123, PTH206  (str paths: no Path object per file read)
from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

#: Runs of files per reading thread (a future per run, not per file).
RUNS_PER_THREAD = 2


def read_pool() -> ThreadPoolExecutor:
    """The pool that reads image files: the image decoders' own (their threads' heaps are already warm)."""
    from datahygiene.io.decode import decode_pool  # Pillow: only a run that reads image files needs it

    return decode_pool()


class Folder:
    """A local folder whose files are read by relative path (``PermissionError`` for a path that leaves it)."""

    def __init__(self, root: Path) -> None:
        self.base = os.path.realpath(root)

    def path_of(self, relative: str) -> str:
        """The real path of ``relative`` under the folder; ``PermissionError`` when it leaves the folder."""
        if "\0" in relative:
            raise ValueError("embedded null byte")
        target = os.path.join(self.base, relative)
        if not os.path.isabs(relative) and os.path.normpath(relative) == relative and not relative.startswith(".."):
            parts = relative.split(os.sep)
            walked = self.base
            for part in parts:
                walked = os.path.join(walked, part)
                try:
                    if stat.S_ISLNK(os.lstat(walked).st_mode):
                        break
                except OSError:
                    break  # missing: the open below names the error, as before
            else:
                return target
        real = os.path.realpath(target)
        if os.path.commonpath([self.base, real]) != self.base:
            raise PermissionError(relative)
        return real

    def read(self, relative: str) -> bytes:
        """The bytes of one file under the folder."""
        with open(self.path_of(relative), "rb") as handle:
            return handle.read()

    def read_many(self, relatives: Sequence[str]) -> list[bytes | Exception]:
        """The bytes of each file, in order, read on :func:`read_pool`; a file that fails gives its exception."""
        if len(relatives) < 2:
            return [self._read_or_error(relative) for relative in relatives]
        # A few runs of files per thread, not one future per file (a future costs more than a small read).
        from datahygiene.io.decode import DECODE_THREADS

        pool = read_pool()
        size = -(-len(relatives) // (DECODE_THREADS * RUNS_PER_THREAD))
        runs = [relatives[start : start + size] for start in range(0, len(relatives), size)]
        return [result for run in pool.map(self._read_run, runs) for result in run]

    def _read_run(self, relatives: Sequence[str]) -> list[bytes | Exception]:
        return [self._read_or_error(relative) for relative in relatives]

    def _read_or_error(self, relative: str) -> bytes | Exception:
        try:
            return self.read(relative)
        except (OSError, ValueError) as error:
            return error
