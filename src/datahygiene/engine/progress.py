"""Progress events of a run: the CLI draws its bar from them, the flows ignore them."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from datahygiene.io.sources import ShardSource


class ProgressListener(Protocol):
    """Receives progress events; the CLI draws a bar from them.

    Per shard: ``batch_read`` when a batch was read (with the bytes of the shard's files read so far, when the
    reader counts them), ``batch_scoring`` while a stage scores that batch in chunks (rows done of the
    stage's rows), ``rows_done`` once the batch is scored and decided, ``shard_done`` at the commit.
    """

    def run_started(self, shards: list[ShardSource], skipped: int) -> None:
        """``shards``: the shards to commit now; ``skipped``: how many an earlier attempt committed."""
        ...

    def batch_read(self, shard: ShardSource, rows: int, bytes_read: int | None) -> None: ...

    def batch_scoring(self, done: int, total: int) -> None: ...

    def rows_done(self, shard: ShardSource, rows: int) -> None: ...

    def shard_done(self, shard: ShardSource, record: dict[str, Any]) -> None: ...


class Silent:
    """A listener that ignores every event."""

    def run_started(self, shards: list[ShardSource], skipped: int) -> None:
        pass

    def batch_read(self, shard: ShardSource, rows: int, bytes_read: int | None) -> None:
        pass

    def batch_scoring(self, done: int, total: int) -> None:
        pass

    def rows_done(self, shard: ShardSource, rows: int) -> None:
        pass

    def shard_done(self, shard: ShardSource, record: dict[str, Any]) -> None:
        pass


class LockedListener:
    """Passes every event on to ``inner`` one at a time (scoring runs on its own thread, the commit on the main one)."""

    def __init__(self, inner: ProgressListener) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    def run_started(self, shards: list[ShardSource], skipped: int) -> None:
        with self._lock:
            self.inner.run_started(shards, skipped)

    def batch_read(self, shard: ShardSource, rows: int, bytes_read: int | None) -> None:
        with self._lock:
            self.inner.batch_read(shard, rows, bytes_read)

    def batch_scoring(self, done: int, total: int) -> None:
        with self._lock:
            self.inner.batch_scoring(done, total)

    def rows_done(self, shard: ShardSource, rows: int) -> None:
        with self._lock:
            self.inner.rows_done(shard, rows)

    def shard_done(self, shard: ShardSource, record: dict[str, Any]) -> None:
        with self._lock:
            self.inner.shard_done(shard, record)
