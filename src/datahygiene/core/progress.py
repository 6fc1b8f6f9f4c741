"""Progress inside a batch: a stage that scores a batch in chunks says how far it got; the CLI's bar listens.

Scoring one batch of text can take minutes on a CPU (thousands of rows through a transformer), so the bar
must move before the batch is done. Stages call :func:`scored` after each chunk; :func:`reporting` installs a
callback for the duration of a run (the flows install none, and then :func:`scored` does nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

ScoredCallback = Callable[[int, int], None]

_callback: ScoredCallback | None = None


def scored(done: int, total: int) -> None:
    """``done`` of the ``total`` rows a stage is scoring in the current batch are done."""
    if _callback is not None:
        _callback(done, total)


@contextmanager
def reporting(callback: ScoredCallback | None) -> Iterator[None]:
    """Send :func:`scored` reports to ``callback`` inside the ``with`` block (one run at a time per process)."""
    global _callback
    previous, _callback = _callback, callback
    try:
        yield
    finally:
        _callback = previous
