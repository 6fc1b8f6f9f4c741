"""Progress events of a run: the CLI draws its bar from them, the flows ignore them."""

from __future__ import annotations

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
