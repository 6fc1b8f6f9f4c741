"""Helpers shared by the text scorers: which rows have text, length-sorted batches, ``tox_*`` + ``toxicity`` columns."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from datahygiene.core import progress
from datahygiene.core.stage import Batch


def text_rows(texts: list[str | None]) -> list[int]:
    """Indices of the rows holding non-blank text."""
    return [i for i, text in enumerate(texts) if isinstance(text, str) and text.strip()]


def length_sorted_chunks(texts: list[str], batch_size: int) -> Iterator[np.ndarray]:
    """Index arrays of ``batch_size`` texts of similar length (shortest first), so padding stays small.

    When the caller asks for the next chunk, the last one is done: that is reported as progress.
    """
    order = np.argsort([len(t) for t in texts], kind="stable")
    for start in range(0, len(texts), batch_size):
        yield order[start : start + batch_size]
        progress.scored(min(start + batch_size, len(texts)), len(texts))


def score_rows(batch: Batch, width: int, predict: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """(rows, width) float32 scores from ``predict`` on the rows with text; NaN rows elsewhere."""
    texts = batch.texts()
    idx = text_rows(texts)
    scores = np.full((batch.num_rows, width), np.nan, dtype=np.float32)
    if idx:
        scores[idx] = predict([str(texts[i]) for i in idx])
    return scores


def label_columns(scores: np.ndarray, labels: list[str]) -> dict[str, pa.Array]:
    """``tox_<label>`` per column of ``scores`` and ``toxicity`` = their max; null where a row is NaN."""
    mask = np.isnan(scores[:, 0])
    columns = {f"tox_{label}": pa.array(scores[:, j], pa.float32(), mask=mask) for j, label in enumerate(labels)}
    columns["toxicity"] = pa.array(np.where(mask, 0, scores.max(axis=1, initial=-np.inf)), pa.float32(), mask=mask)
    return columns


def tokenize(tokenizer: Any, texts: list[str], max_length: int, device: str) -> Any:
    """A padded, truncated batch of PyTorch tensors on ``device``."""
    return tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt").to(device)
