"""Text normalisation for lexicon matching: entities, URLs, handles, case, accents, leetspeak, split letters."""

from __future__ import annotations

import html
import re
import unicodedata

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i", "|": "i"}
    | {"+": "t"}
)
_TOKEN = re.compile(r"[a-z0-9@$!|+]+")
_URL = re.compile(r"(?:https?://|www\.)\S+")
_MENTION = re.compile(r"(?<![\w@])@[a-z0-9_]{4,15}", re.IGNORECASE)
_QUOTE = re.compile(r'"[^"\n]{1,200}"|\u201c[^\u201d\n]{1,200}\u201d')
_EDGE = "!|+"


def clean_text(text: str) -> str:
    """HTML entities undone (``&amp;``, ``&#8220;``); URLs and @handles (four or more characters) blanked out."""
    if "&" in text:
        text = html.unescape(text)
    if "://" in text or "www." in text:
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    return text


def fold(text: str) -> str:
    """Casefolded with accents stripped (NFKD minus combining marks; ASCII text skips the Unicode work)."""
    folded = text.casefold()
    if folded.isascii():
        return folded
    folded = unicodedata.normalize("NFKD", folded)
    return "".join(ch for ch in folded if not unicodedata.combining(ch))


def normalise_tokens(text: str) -> list[str]:
    """Folded word tokens with leetspeak undone and runs of single letters (``s h i t``, ``s.h.i.t``) re-joined.

    ``! | +`` at a token's edges are punctuation, not leetspeak (``shit!`` is ``shit``).
    """
    tokens: list[str] = []
    run: list[str] = []
    for raw in _TOKEN.findall(fold(text)):
        token = raw.strip(_EDGE)
        if not token:
            continue
        if len(token) == 1:
            run.append(token)
            continue
        if run:
            tokens.append("".join(run))
            run = []
        tokens.append(token)
    if run:
        tokens.append("".join(run))
    return [token if token.isalpha() else token.translate(_LEET) for token in tokens]


def tokens_and_quotes(text: str) -> tuple[list[str], frozenset[int]]:
    """Normalised tokens of ``text`` and the positions of the tokens that stand inside double quotes."""
    if '"' not in text and "\u201c" not in text:
        return normalise_tokens(text), frozenset()
    tokens: list[str] = []
    quoted: set[int] = set()
    last = 0
    for found in _QUOTE.finditer(text):
        tokens += normalise_tokens(text[last : found.start()])
        inner = normalise_tokens(found.group())
        quoted.update(range(len(tokens), len(tokens) + len(inner)))
        tokens += inner
        last = found.end()
    tokens += normalise_tokens(text[last:])
    return tokens, frozenset(quoted)
