"""Progress events of a run: the CLI draws its bar from them, the flows ignore them."""

from __future__ import annotations

from typing import Any, Protocol

from datahygiene.io.sources import ShardSource


class ProgressListener(Protocol):
    """Receives progress events; the CLI draws a bar from them."""

    def run_started(self, shards: list[ShardSource], skipped: int) -> None: ...

    def rows_done(self, shard: ShardSource, rows: int) -> None: ...

    def shard_done(self, shard: ShardSource, record: dict[str, Any]) -> None: ...


class Silent:
    """A listener that ignores every event."""

    def run_started(self, shards: list[ShardSource], skipped: int) -> None:
        pass

    def rows_done(self, shard: ShardSource, rows: int) -> None:
        pass

    def shard_done(self, shard: ShardSource, record: dict[str, Any]) -> None:
        pass
