"""``text.stats``: cheap quality signals (length, words, symbol share) for policy rules."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from datahygiene.core.registry import register
from datahygiene.core.stage import Batch, StageBase, StageParams


class TextStatsParams(StageParams):
    """No parameters."""


@register("text.stats")
class TextStats(StageBase[TextStatsParams]):
    """Characters, words and the share of alphabetic characters of each text."""

    needs_full_image: ClassVar[bool] = False  # reads text (and image bytes), never pixels

    Params: ClassVar[type[StageParams]] = TextStatsParams

    def output_schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field("text_chars", pa.int32()),
                pa.field("text_words", pa.int32()),
                pa.field("text_alpha_ratio", pa.float32()),
            ]
        )

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        text = batch.column("text")
        assert text is not None
        chars = pc.utf8_length(text)
        # count_substring_regex rather than utf8_split_whitespace, which yields a
        # trailing empty "word" for text ending in whitespace.
        words = pc.count_substring_regex(text, r"\S+")
        letters = pc.utf8_length(pc.replace_substring_regex(text, r"[^\p{L}]", ""))
        # float64: float32 holds integers exactly only up to 2**24, and a longer text must not fail the cast
        ratio = pc.if_else(
            pc.greater(chars, 0), pc.divide(pc.cast(letters, pa.float64()), pc.cast(chars, pa.float64())), None
        )
        return {
            "text_chars": chars.cast(pa.int32()),
            "text_words": words.cast(pa.int32()),
            "text_alpha_ratio": ratio.cast(pa.float32()),
        }
