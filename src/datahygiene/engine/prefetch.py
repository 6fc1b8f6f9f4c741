"""Items of an iterator produced ahead on a background thread, handed over in order through a bounded queue.

The CLI reads, decodes and scores a shard's next batch (the order-free half, :func:`score_batches`) while the
main thread runs the ordered stages over the last one and writes it: pyarrow, Pillow, numpy and rensa release
the GIL, so both cores work. At most ``depth`` finished items wait in the queue (one more is being made), so
memory stays bounded. An exception of the producer is raised in the consumer where the next item was due; a
consumer that stops early (:meth:`Prefetch.close`, or leaving the ``with`` block) stops the producer after the
item it is making and joins its thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

#: How long a blocked ``put`` waits before it looks again whether the consumer stopped.
_POLL_SECONDS = 0.05


class _Done:
    """The producer's last word: the iterator ended, or raised ``error``."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Prefetch(Generic[T], Iterator[T]):
    """Iterate ``source`` on a thread named ``name``, at most ``depth`` items ahead of the consumer."""

    def __init__(self, source: Iterable[T], *, depth: int = 1, name: str = "prefetch") -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._source = source
        #: ``time.perf_counter()`` when the producer started (a shard's scoring may start before its commit).
        self.started = time.perf_counter()
        self._queue: queue.Queue[T | _Done] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        iterator = iter(self._source)
        last: _Done = _Done()
        try:
            for item in iterator:
                if not self._put(item):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            last = _Done(error)
        finally:
            close = getattr(iterator, "close", None)
            if callable(close):
                close()  # a generator's ``finally`` blocks run here, on its own thread
        self._put(last)

    def _put(self, item: T | _Done) -> bool:
        """Queue ``item``, waiting for room; False when the consumer stopped meanwhile."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Prefetch[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, _Done):
            self._finished = True
            self._thread.join()
            if item.error is not None:
                raise item.error
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the producer (after the item it is making) and wait for its thread; queued items are dropped."""
        self._finished = True
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
        self._thread.join()

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
