"""The scoring cascade: cost follows suspicion, not length.

Every row is cut into sentences (after . ! ? and at blank lines or list items, never at a hard-wrapped line break;
a fragment of fewer than ``MIN_WORDS`` words is joined to its neighbour, since a model judging "them." alone guesses)
and the sentences are packed into windows of at most ``window_chars`` characters
(about 256 MiniLM tokens of English prose), consecutive windows sharing one sentence. The cheap tier (lexicon + the
hashed n-gram model) scores every sentence. The transformer then scores each row's first window, plus every sentence
the cheap tier flags (a counted lexicon severity >= ``flag_severity``, or an n-gram logit >= the combiner's
``cheap_flag_logit``) and the window around it. Sentences are scored on their own because one hateful sentence
averaged into a window's embedding all but vanishes. ``exhaustive`` plans every window and every sentence instead:
the reference the cascade is measured against (``bench/bench_toxicity_cascade.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from datahygiene.stages.lexicon.index import Hits
from datahygiene.stages.lexicon.lexicon import Lexicon
from datahygiene.stages.toxicity.ngram import NgramModel

#: Sentence ends: after . ! ? (and closing quotes or brackets), a blank line, a line break before a list item.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\s*\n\s*\n\s*|\s*\n(?=[ \t]*(?:[-*+•]|\d{1,3}[.)])\s)")
_WORD = re.compile(r"\w+")
#: A sentence with fewer words is joined to the next one (the last to the previous one).
MIN_WORDS = 4


def sentence_spans(text: str, max_chars: int) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``; long ones cut at spaces, fragments joined to a neighbour."""
    spans: list[tuple[int, int]] = []
    start = 0
    for found in _SENTENCE_END.finditer(text):
        _add_span(text, start, found.start(), max_chars, spans)
        start = found.end()
    _add_span(text, start, len(text), max_chars, spans)
    return _join_fragments(text, spans, max_chars)


def _join_fragments(text: str, spans: list[tuple[int, int]], max_chars: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    pending: tuple[int, int] | None = None
    for span in spans:
        if pending is not None and span[1] - pending[0] <= max_chars:
            span = (pending[0], span[1])
        elif pending is not None:
            out.append(pending)
        pending = None
        if len(_WORD.findall(text, span[0], span[1])) < MIN_WORDS:
            pending = span
        else:
            out.append(span)
    if pending is not None:
        if out and pending[1] - out[-1][0] <= max_chars:
            out[-1] = (out[-1][0], pending[1])
        else:
            out.append(pending)
    return out


def _add_span(text: str, start: int, end: int, max_chars: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while end - start > max_chars:
        cut = text.rfind(" ", start, start + max_chars + 1)
        cut = cut if cut > start else start + max_chars
        spans.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        spans.append((start, end))


def pack_windows(spans: list[tuple[int, int]], window_chars: int) -> list[tuple[int, int]]:
    """Windows as sentence index ranges ``[first, last)``: at most ``window_chars`` long (a longer sentence alone).

    The next window starts with the previous one's last sentence when that sentence and the next one fit together.
    """
    windows: list[tuple[int, int]] = []
    first = 0
    while first < len(spans):
        last = first + 1
        while last < len(spans) and spans[last][1] - spans[first][0] <= window_chars:
            last += 1
        windows.append((first, last))
        if last >= len(spans):
            break
        overlap_fits = last - 1 > first and spans[last][1] - spans[last - 1][0] <= window_chars
        first = last - 1 if overlap_fits else last
    return windows


@dataclass
class Piece:
    """A span the transformer scores: row, window index, character span."""

    row: int
    window: int
    start: int
    end: int


@dataclass
class RowPlan:
    """One row's sentences, windows, cheap-tier results and transformer pieces."""

    spans: list[tuple[int, int]]
    windows: list[tuple[int, int]]
    hits: list[Hits]
    ngram: np.ndarray
    flagged: list[int] = field(default_factory=list)
    pieces: list[Piece] = field(default_factory=list)

    def window_of(self, sentence: int) -> int:
        """Index of the first window holding ``sentence``."""
        return next(w for w, (first, last) in enumerate(self.windows) if first <= sentence < last)


@dataclass
class CascadeSettings:
    """Window size, flag rule, and the per-row cap on transformer pieces."""

    window_chars: int = 1000
    flag_severity: float = 1.5
    max_pieces: int = 32
    exhaustive: bool = False


def plan_rows(
    texts: list[str], rows: list[int], lexicon: Lexicon, ngram: NgramModel, flag_logit: float, settings: CascadeSettings
) -> list[RowPlan]:
    """Run the cheap tier on every sentence of every row and choose the pieces for the transformer."""
    per_row = [sentence_spans(texts[row], settings.window_chars) or [(0, len(texts[row]))] for row in rows]
    languages = [lexicon.languages_for(texts[row]) for row in rows]  # once per row, from its first 2,000 characters
    sentences = [texts[row][a:b] for row, spans in zip(rows, per_row, strict=True) for a, b in spans]
    owners = [langs for langs, spans in zip(languages, per_row, strict=True) for _ in spans]
    prepared = [lexicon.prepare(s) for s in sentences]
    hits = [lexicon.scan(*p, langs) for p, langs in zip(prepared, owners, strict=True)]
    logits = ngram.decision([p[1] for p in prepared])
    plans: list[RowPlan] = []
    offset = 0
    for row, spans in zip(rows, per_row, strict=True):
        count = len(spans)
        plan = RowPlan(
            spans,
            pack_windows(spans, settings.window_chars),
            hits[offset : offset + count],
            logits[offset : offset + count],
        )
        offset += count
        _choose_pieces(row, plan, flag_logit, settings)
        plans.append(plan)
    return plans


def _choose_pieces(row: int, plan: RowPlan, flag_logit: float, settings: CascadeSettings) -> None:
    spans, windows = plan.spans, plan.windows
    whole = [Piece(row, w, spans[first][0], spans[last - 1][1]) for w, (first, last) in enumerate(windows)]
    single = [Piece(row, plan.window_of(i), a, b) for i, (a, b) in enumerate(spans)]
    if settings.exhaustive:
        plan.flagged = list(range(len(spans)))
        plan.pieces = whole + (single if len(spans) > 1 else [])
        return
    suspicion = np.maximum(plan.ngram - flag_logit, [h.severity - settings.flag_severity for h in plan.hits])
    plan.flagged = [int(i) for i in np.argsort(-suspicion, kind="stable") if suspicion[i] >= 0]
    plan.flagged = plan.flagged[: max(0, settings.max_pieces - 1) // 2]
    chosen_windows = {0} | {plan.window_of(i) for i in plan.flagged}
    plan.pieces = [whole[w] for w in sorted(chosen_windows)]
    if len(spans) > 1:
        plan.pieces += [single[i] for i in sorted(plan.flagged)]
