"""Text normalisation for lexicon matching: entities, URLs, handles, case, accents, leetspeak, split letters,
elongated letters, English inflections, camel-case joins and starred-out letters."""

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
_ELONGATED = re.compile(r"(.)\1{2,}")
#: English inflectional endings and what may replace them on the stem (``bitches`` -> ``bitch``, ``fuckin`` ->
#: ``fuck``, ``raped`` -> ``rape``, ``trannies`` -> ``tranny``, ``niggaz`` -> ``nigga``).
_SUFFIXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ies", ("y",)),
    ("es", ("", "e")),
    ("s", ("",)),
    ("z", ("",)),
    ("ing", ("", "e")),
    ("in", ("", "e")),
    ("ed", ("", "e")),
)
#: Stems shorter than this are not looked up (``cumin`` is not ``cum`` + ``in``, ``spiked`` not ``spik`` + ``ed``).
MIN_STEM = 4
_CAMEL = re.compile(r"(?<![A-Za-z])[A-Za-z]*[a-z][A-Z][A-Za-z]*")
_CAMEL_HINT = re.compile(r"[a-z][A-Z]")
_CAMEL_PART = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_STARRED = re.compile(r"(?<![\w*])[a-z]+\*+[a-z][a-z*]*(?![\w*])")


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


def unelongated(token: str) -> list[str]:
    """Readings of a token with a letter repeated three or more times (``nigggaaa``), most likely first.

    Runs of a vowel cut to one and of a consonant to two (``nigga``), then every run to one, then to two.
    """
    if not _ELONGATED.search(token):
        return []
    mixed = _ELONGATED.sub(lambda m: m.group(1) * (1 if m.group(1) in "aeiouy" else 2), token)
    readings = [mixed, _ELONGATED.sub(r"\1", token), _ELONGATED.sub(r"\1\1", token)]
    return list(dict.fromkeys(readings))


def stems(token: str) -> list[str]:
    """Candidate stems of an inflected English token, longest ending first, each at least :data:`MIN_STEM` long."""
    found: list[str] = []
    for ending, replacements in _SUFFIXES:
        if token.endswith(ending) and len(token) - len(ending) >= MIN_STEM:
            base = token[: -len(ending)]
            found += [base + r for r in replacements if base + r != token]
    return found


def camel_parts(text: str) -> list[list[str]]:
    """Normalised tokens of each camel-case join in ``text`` (``#TurnThatShitUp`` -> ``turn that shit up``)."""
    if not _CAMEL_HINT.search(text):
        return []
    return [normalise_tokens(" ".join(_CAMEL_PART.findall(word))) for word in _CAMEL.findall(text)]


def starred_words(folded: str) -> list[str]:
    """Words of folded text with letters starred out between letters (``f*ck``, ``s**t``, ``n*****r``)."""
    return _STARRED.findall(folded)
