"""Person names in text, offline: a name lexicon plus capitalisation rules.

No model: the shipped lexicon is the US 1990 Census first names (5,163) and
the 30,000 most common surnames (public domain; see
``data/names/PROVENANCE.md``). A name is reported when a run of capitalised
words (initials and particles such as *van*, *da*, *bin* allowed inside)

1. starts with a known first name and goes on with one to three capitalised
   words that are not place/organisation words (*River*, *Street*,
   *University* ...), months or weekdays, preferring to end on a known
   surname; first names that are also common words (*May*, *Will*, *Grace*,
   *Paris* ...) additionally need a known surname after them;
2. follows a title (*Dr.*, *President*, *Queen* ...): one to three words;
3. follows a role word (*actor*, *singer*, *portrait of* ...): one to three
   words; or
4. is a full name from a user file (matched case-insensitively, whole words).

A name directly followed by a place/organisation word is dropped as the name
of that place (*John Smith Hospital*). The word lists are files in
``data/names/``; users extend them with their own files.

What it misses: lowercase or all-caps text, single-word names without a title
(*Beyoncé*), and two-word names whose first name is not in the lexicon and
that no title or role word introduces (*Xi Jinping*).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

#: Lowercase words allowed inside a name ("Vincent van Gogh", "Leonardo da Vinci").
PARTICLES = frozenset(("van", "von", "der", "den", "de", "da", "di", "del", "della", "du", "la", "le", "bin", "ibn"))
#: Two-word phrases that introduce a name like a role word does.
ROLE_PHRASES = (("portrait", "of"), ("headshot", "of"), ("selfie", "with"))
#: Titles kept in the reported name ("Mr. Brown"); other titles are dropped ("President Lincoln" -> "Lincoln").
KEPT_TITLES = frozenset(("mr", "mrs", "ms", "miss", "mx", "lady", "dame", "sir"))
#: Name endings that count like a known surname.
SUFFIXES = frozenset(("jr", "sr"))
_APOSTROPHES = "'\N{RIGHT SINGLE QUOTATION MARK}"
_WORD = re.compile(rf"[^\W\d_]+(?:[{_APOSTROPHES}\-][^\W\d_]+)*\.?")
_POSSESSIVE = re.compile(rf"[{_APOSTROPHES}]s$")
_ROMAN = re.compile(r"[IVX]{1,4}")


def _entries(text: str) -> list[str]:
    """Non-empty lines without ``#`` comments."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _read_lexicon(name: str) -> frozenset[str]:
    """A shipped list from ``data/names/``, lowercased."""
    text = resources.files("datahygiene.data").joinpath("names", name).read_text(encoding="utf-8")
    return frozenset(entry.lower() for entry in _entries(text))


def _read_user_file(path: Path) -> list[str]:
    return _entries(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class _Token:
    text: str  # without a trailing possessive or full stop
    key: str  # lowercased ``text``
    start: int
    end: int
    capital: bool  # Title-case word or an initial ("J.")
    dotted: bool  # ended with a full stop in the source


def _tokens(text: str) -> list[_Token]:
    tokens = []
    for match in _WORD.finditer(text):
        raw = match.group()
        dotted = raw.endswith(".")
        word = _POSSESSIVE.sub("", raw.rstrip("."))
        if not word:
            continue
        capital = word[0].isupper() and (len(word) == 1 or any(c.islower() for c in word[1:]) or _roman(word))
        tokens.append(_Token(word, word.lower(), match.start(), match.start() + len(word), capital, dotted))
    return tokens


def _roman(word: str) -> bool:
    return _ROMAN.fullmatch(word) is not None


class NameFinder:
    """Finds person names; ``find`` returns them in order of appearance, without repeats."""

    def __init__(
        self,
        *,
        first_names: Iterable[str] = (),
        surnames: Iterable[str] = (),
        full_names: Iterable[str] = (),
        stop_words: Iterable[str] = (),
    ) -> None:
        self.first = _read_lexicon("first_names.txt") | {n.lower() for n in first_names}
        self.surnames = _read_lexicon("surnames.txt") | {n.lower() for n in surnames}
        self.stop = _read_lexicon("stop_words.txt") | {w.lower() for w in stop_words}
        self.titles = _read_lexicon("titles.txt")
        self.roles = _read_lexicon("roles.txt")
        self.ambiguous = _read_lexicon("ambiguous_first_names.txt")
        #: Full names by their first word, longest first.
        self.full: dict[str, list[tuple[str, ...]]] = {}
        for name in full_names:
            key = tuple(t.key for t in _tokens(name))
            if key:
                self.full.setdefault(key[0], []).append(key)
        for keys in self.full.values():
            keys.sort(key=len, reverse=True)

    @classmethod
    def from_files(
        cls,
        *,
        first_names: list[Path],
        surnames: list[Path],
        full_names: list[Path],
        stop_words: list[Path],
    ) -> NameFinder:
        """A finder with the shipped lexicon extended by user files (one entry a line, ``#`` comments)."""

        def read(paths: list[Path]) -> list[str]:
            return [entry for path in paths for entry in _read_user_file(path)]

        return cls(
            first_names=read(first_names),
            surnames=read(surnames),
            full_names=read(full_names),
            stop_words=read(stop_words),
        )

    def find(self, text: str | None) -> list[str]:
        """Names in ``text`` as they are written there."""
        if not text:
            return []
        tokens = _tokens(text)
        found: list[str] = []
        index = 0
        while index < len(tokens):
            span = self._full_name_at(tokens, index) or self._name_at(text, tokens, index)
            if span is None:
                index += 1
                continue
            start, end = span
            name = text[tokens[start].start : tokens[end - 1].end]
            if tokens[end - 1].dotted and len(tokens[end - 1].text) <= 2:  # keep the dot of "Jr." / "J."
                name += "."
            if name not in found:
                found.append(name)
            index = end
        return found

    def _full_name_at(self, tokens: list[_Token], index: int) -> tuple[int, int] | None:
        for key in self.full.get(tokens[index].key, ()):
            if tuple(t.key for t in tokens[index : index + len(key)]) == key:
                return index, index + len(key)
        return None

    def _run(self, text: str, tokens: list[_Token], start: int, limit: int) -> int:
        """End of the run of capitalised words (particles inside) from ``start``, at most ``limit`` long."""
        end = start
        while end < len(tokens) and end - start < limit:
            token = tokens[end]
            if end > start and text[tokens[end - 1].end : token.start].strip(" .") != "":
                break  # punctuation between words ends the name
            particle = token.key in PARTICLES and end > start and end + 1 < len(tokens) and tokens[end + 1].capital
            if not (particle or (token.capital and token.key not in self.stop)):
                break
            end += 1
        while end > start and tokens[end - 1].key in PARTICLES:
            end -= 1
        return end

    def _name_at(self, text: str, tokens: list[_Token], index: int) -> tuple[int, int] | None:
        token = tokens[index]
        previous = tokens[index - 1].key if index > 0 else ""
        if token.capital and token.key in self.titles:
            end = self._run(text, tokens, index + 1, 3)
            if end > index + 1:
                return (index if token.key in KEPT_TITLES else index + 1), end
            return None
        if not token.capital or token.key in self.stop or token.key in PARTICLES:
            return None
        before = tuple(t.key for t in tokens[max(index - 2, 0) : index])
        introduced = previous in self.roles or before in ROLE_PHRASES
        end = self._run(text, tokens, index, 4)
        if introduced and end > index:
            return index, min(end, index + 3)
        if end - index < 2 or token.key not in self.first:
            return None
        end = self._best_end(tokens, index, end)
        if token.key in self.ambiguous and tokens[end - 1].key not in self.surnames:
            return None
        if self._named_place(text, tokens, end):
            return None
        return index, end

    def _named_place(self, text: str, tokens: list[_Token], end: int) -> bool:
        """Whether a place/organisation word directly follows the name ("John Smith Hospital")."""
        if end >= len(tokens):
            return False
        following = tokens[end]
        return (
            following.capital and following.key in self.stop and not text[tokens[end - 1].end : following.start].strip()
        )

    def _best_end(self, tokens: list[_Token], index: int, end: int) -> int:
        """Prefer the longest span (up to three words after the first name) ending on a known surname or suffix."""
        for candidate in range(min(end, index + 4), index + 1, -1):
            last = tokens[candidate - 1]
            if last.key in PARTICLES:
                continue
            if last.key in self.surnames or last.key in SUFFIXES or _roman(last.text):
                return candidate
        fallback = min(end, index + 2)
        while fallback < end and tokens[fallback - 1].key in PARTICLES:
            fallback += 1
        return fallback


def read_labelled(path: Path) -> list[tuple[str, list[str]]]:
    """A hand-labelled file: ``text<TAB>name|name`` per line (``#`` comments); an empty label means no name."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            text, _, labels = line.partition("\t")
            rows.append((text, [name for name in labels.split("|") if name]))
    return rows


def precision_recall(finder: NameFinder, labelled: Iterable[tuple[str, list[str]]]) -> tuple[float, float]:
    """Name-level precision and recall; a found name counts when it shares a word with an expected one."""
    true_pos = false_pos = false_neg = 0
    for text, expected in labelled:
        found = finder.find(text)
        hits = sum(1 for name in found if any(_overlap(name, e) for e in expected))
        true_pos, false_pos = true_pos + hits, false_pos + len(found) - hits
        false_neg += sum(1 for e in expected if not any(_overlap(name, e) for name in found))
    return true_pos / max(true_pos + false_pos, 1), true_pos / max(true_pos + false_neg, 1)


def _overlap(a: str, b: str) -> bool:
    return bool(set(a.split()) & set(b.split()))
