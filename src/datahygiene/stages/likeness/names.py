"""Person names in text, offline: a name lexicon plus capitalisation rules.

No model: the shipped lexicon is the US 1990 Census first names (5,163) and
the 30,000 most common surnames (public domain), and SCOWL's everyday English
words (see ``data/names/PROVENANCE.md``). @handles, #hashtags, e-mail
addresses and URLs are not text: no name is read inside them. A name is
reported when a run of capitalised words (initials and particles such as
*van*, *da*, *bin* allowed inside; a full stop ends it unless it closes an
initial or an abbreviation) either

1. starts with a known first name and goes on with one to three capitalised
   words, preferring to end on a known surname; the last word must be a known
   surname, a first name, an initial or *Jr.*, or at least not an everyday
   word (*Candy Corn*, *Joe For*, *Irish Music* are not names). First names
   that are also everyday words (*May*, *Will*, *Grace*, *So*, *My*, *Mark*
   ...) need a known surname after them. A surname that is also an everyday
   word (*Good*, *Bunch*, *Job*) only counts among the 1,000 most frequent;
2. follows a title (*Dr.*, *President*, *Queen* ...): up to three words,
   trimmed to the longest span that ends on a known name; or
3. follows a role word (*actor*, *singer*, *portrait of* ...) in the same
   sentence: up to three words, trimmed the same way; or
4. is a full name from a user file (matched case-insensitively, whole words).

Place, organisation, calendar and sports-team words (*River*, *Street*,
*Yankees* ...) and titles end a run; a name directly followed by such a word
is dropped as the name of that place (*John Smith Hospital*). The word lists
are files in ``data/names/``; users extend them with their own files.

What it misses: lowercase or all-caps text, single-word names without a title
(*Beyoncé*), two-word names whose first name is not in the lexicon and that no
title or role word introduces (*Xi Jinping*), and names whose first name is an
everyday word followed by a rare surname (*Chuck Palahniuk*).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from pathlib import Path

#: Lowercase words allowed inside a name ("Vincent van Gogh", "Leonardo da Vinci").
PARTICLES = frozenset(("van", "von", "der", "den", "de", "da", "di", "del", "della", "du", "la", "le", "bin", "ibn"))
#: Two-word phrases that introduce a name like a role word does.
ROLE_PHRASES = (("portrait", "of"), ("headshot", "of"), ("selfie", "with"))
#: Titles kept in the reported name ("Mr. Brown"); other titles are dropped ("President Lincoln" -> "Lincoln").
KEPT_TITLES = frozenset(("mr", "mrs", "ms", "miss", "mx", "lady", "dame", "sir"))
#: Name endings that count like a known surname.
SUFFIXES = frozenset(("jr", "sr"))
#: Abbreviations whose full stop does not end a sentence inside a name ("St. John").
ABBREVIATIONS = frozenset(("st", "ste", "mt", "ft"))
_APOSTROPHES = "'\N{RIGHT SINGLE QUOTATION MARK}"
_WORD = re.compile(rf"[^\W\d_]+(?:[{_APOSTROPHES}\-][^\W\d_]+)*\.?")
_POSSESSIVE = re.compile(rf"[{_APOSTROPHES}]s$")
_ROMAN = re.compile(r"I[IVX]{1,3}|V|VI{1,3}|X")
#: Not text: @handles, #hashtags, e-mail addresses, URLs (and words glued to digits or underscores).
_NOT_TEXT = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+|(?:https?://|www\.)\S+|[@#][\w.]*\w")
_GLUE = re.compile(r"[\d_@#]")
#: "I" and its contractions are never part of a name.
_FIRST_PERSON = re.compile(rf"I(?:[{_APOSTROPHES}][a-z]+)?")
_PARTS = re.compile(rf"[{_APOSTROPHES}\-]")
#: "It'll", "Don't", "They're": contractions are never part of a name.
_CONTRACTION = re.compile(rf"[{_APOSTROPHES}](?:ll|re|ve|d|m|t)$|n[{_APOSTROPHES}]t$", re.IGNORECASE)


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


def _not_text(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in _NOT_TEXT.finditer(text)]


def _capital(word: str) -> bool:
    """Title case ("Smith", "McDonald", "O'Brien"), an initial ("J") or a roman numeral; not "I" nor camel case."""
    if not word[0].isupper() or _FIRST_PERSON.fullmatch(word) or _CONTRACTION.search(word):
        return False
    if len(word) == 1 or _roman(word):
        return True
    parts = word.split("-")
    if any(not part[:1].isupper() for part in parts[1:]):
        return False  # "Chan-style": a compound, not a double-barrelled name
    return any(c.islower() for c in word[1:]) and all(_title_part(part) for part in _PARTS.split(word))


def _title_part(part: str) -> bool:
    """One capital, or a second one after a short prefix ("McDonald", "LeBron"); "MikeBrown" is a hashtag."""
    capitals = [i for i, c in enumerate(part) if c.isupper()]
    if len(part) > 1 and not any(c.islower() for c in part):
        return False  # an acronym inside ("Mr IM-yb")
    return len(capitals) <= 1 or (len(capitals) == 2 and capitals[0] == 0 and capitals[1] <= 3)


def _tokens(text: str) -> list[_Token]:
    tokens = []
    skip = _not_text(text)
    for match in _WORD.finditer(text):
        if any(start <= match.start() < end for start, end in skip):
            continue
        before = text[match.start() - 1] if match.start() else ""
        after = text[match.end()] if match.end() < len(text) else ""
        if _GLUE.match(before) or _GLUE.match(after):
            continue  # "G00n", "Justice4Mike": part of a handle-like string
        raw = match.group()
        dotted = raw.endswith(".")
        word = _POSSESSIVE.sub("", raw.rstrip("."))
        if not word:
            continue
        tokens.append(_Token(word, word.lower(), match.start(), match.start() + len(word), _capital(word), dotted))
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
        user_first = {n.lower() for n in first_names}
        user_surnames = {n.lower() for n in surnames}
        self.first = (_read_lexicon("first_names.txt") - _read_lexicon("not_first_names.txt")) | user_first
        self.stop = _read_lexicon("stop_words.txt") | {w.lower() for w in stop_words}
        self.titles = _read_lexicon("titles.txt")
        self.roles = _read_lexicon("roles.txt")
        everyday = _read_lexicon("common_words.txt") | _read_lexicon("informal_words.txt")
        everyday |= {word[:-1] for word in everyday if word.endswith("ing")}  # "thinkin", "nothin"
        self.common = everyday - user_first - user_surnames
        frequent = _read_lexicon("frequent_surnames.txt")
        #: Surnames; one that is also an everyday word only when it is among the most frequent.
        listed = _read_lexicon("surnames.txt") | user_surnames
        self.surnames = {s for s in listed if s not in self.common or s in frequent} | user_surnames
        #: Words that may follow "Mr." / "Mrs." even when they are everyday words ("Mrs Harden").
        self.honorable = listed
        #: First names that need a known surname after them.
        self.ambiguous = _read_lexicon("ambiguous_first_names.txt") | (self.first & self.common)
        self.ambiguous -= user_first
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
            span = self._full_name_at(text, tokens, index) or self._name_at(text, tokens, index)
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

    def _full_name_at(self, text: str, tokens: list[_Token], index: int) -> tuple[int, int] | None:
        for key in self.full.get(tokens[index].key, ()):
            span = tokens[index : index + len(key)]
            if tuple(t.key for t in span) == key and all(self._joined(text, a, b) for a, b in pairwise(span)):
                return index, index + len(key)
        return None

    def _joined(self, text: str, previous: _Token, token: _Token) -> bool:
        """Whether only spaces (or the full stop of an initial or abbreviation) separate two words."""
        gap = text[previous.end : token.start]
        if "\n" in gap:
            return False
        if gap.strip() == "":
            return True
        if gap.strip() != "." or "\n" in gap:
            return False
        short = len(previous.text) == 1 or previous.key in SUFFIXES or previous.key in ABBREVIATIONS
        return short or (previous.key in self.titles and len(previous.text) <= 4)  # "Dr.", "Gov."; not "Captain."

    def _run(self, text: str, tokens: list[_Token], start: int, limit: int) -> int:
        """End of the run of capitalised words (particles inside) from ``start``, at most ``limit`` long."""
        end = start
        while end < len(tokens) and end - start < limit:
            token = tokens[end]
            if end > start and not self._joined(text, tokens[end - 1], token):
                break  # punctuation or a sentence end between words ends the name
            particle = token.key in PARTICLES and end > start and end + 1 < len(tokens) and tokens[end + 1].capital
            if end > start and token.key in self.titles and self._title_of(text, tokens, end):
                break  # "Florida Gov. Rick Scott": the title starts another name
            if not (particle or (token.capital and token.key not in self.stop)):
                break
            end += 1
        while end > start and tokens[end - 1].key in PARTICLES:
            end -= 1
        return end

    def _title_of(self, text: str, tokens: list[_Token], index: int) -> bool:
        """Whether the title at ``index`` starts another name ("Florida Gov. Rick Scott"; not "Charlie King")."""
        if tokens[index].key in self.surnames:
            return False  # "Martin Luther King Jr.": a surname that is also a title
        if index + 1 >= len(tokens):
            return False
        following = tokens[index + 1]
        return following.capital and self._joined(text, tokens[index], following)

    def _known(self, token: _Token) -> bool:
        """A known surname or first name, a suffix, an initial or a roman numeral."""
        key = token.key
        return key in self.surnames or key in self.first or key in SUFFIXES or len(key) == 1 or _roman(token.text)

    def _introduced(
        self, text: str, tokens: list[_Token], start: int, honorific: bool, role: bool = False
    ) -> int | None:
        """End of a name after a title or role word at ``start - 1``, trimmed to end on a known name."""
        if start >= len(tokens) or not self._joined(text, tokens[start - 1], tokens[start]):
            return None
        end = self._run(text, tokens, start, 3)
        if end == start + 1 and len(tokens[start].text) == 1 and not honorific:
            return None  # a lone initial ("Dr. K") is not enough; "Mr O" is
        for candidate in range(end, start, -1):  # after a role word any listed surname ends it ("of Jane Doe")
            last = tokens[candidate - 1]
            if self._known(last) or (role and candidate > start + 1 and last.key in self.honorable):
                return candidate
        word = tokens[start] if end > start else None
        if word is None:
            return None
        if honorific and (word.key not in self.common or word.key in self.honorable):
            return start + 1  # "Mr. Krabs", "Mrs Harden"; not "Mr Template"
        if not honorific and word.key not in self.common and word.key not in self.stop:
            return start + 1
        return None

    def _name_at(self, text: str, tokens: list[_Token], index: int) -> tuple[int, int] | None:
        token = tokens[index]
        if token.capital and token.key in self.titles:
            end = self._introduced(text, tokens, index + 1, token.key in KEPT_TITLES)
            if end is None:
                return None
            return (index if token.key in KEPT_TITLES else index + 1), end
        if not token.capital or token.key in self.stop or token.key in PARTICLES:
            return None
        if index > 0 and self._introduced_by_role(text, tokens, index):
            first = index
            while first < len(tokens) - 1 and tokens[first].key in self.common and tokens[first].key not in self.first:
                first += 1  # "actress Sexy Capri Anderson": the adjective is not the name
            end = self._introduced(text, tokens, first, False, role=True)
            if end is not None:
                return first, end
        end = self._run(text, tokens, index, 4)
        if end - index < 2:
            return None
        if token.key not in self.first:
            return self._unlisted_first_name(text, tokens, index, end)
        end = self._best_end(tokens, index, end)
        last = tokens[end - 1]
        if token.key in self.ambiguous and last.key not in self.surnames:
            return None
        if not self._known(last) and last.key in self.common:
            return None  # "Candy Corn", "Joe For": the second word is an everyday word
        if self._named_place(text, tokens, end) or self._initial_before_word(text, tokens, end):
            return None
        return index, end

    def _unlisted_first_name(self, text: str, tokens: list[_Token], index: int, end: int) -> tuple[int, int] | None:
        """Two words, the first no everyday word nor surname, the second a known surname ("Keanu Reeves")."""
        first, last = tokens[index], tokens[index + 1]
        if end != index + 2 or len(first.text) < 3 or first.key in self.common or first.key in self.surnames:
            return None
        if last.key not in self.surnames or last.key in self.common or last.key in self.first:
            return None
        if self._named_place(text, tokens, end) or self._initial_before_word(text, tokens, end):
            return None
        return index, end

    def _initial_before_word(self, text: str, tokens: list[_Token], end: int) -> bool:
        """Whether the name ends on an initial that a capitalised word follows ("Leon G. Students": a school)."""
        if end >= len(tokens) or len(tokens[end - 1].text) != 1:
            return False
        following = tokens[end]
        return following.capital and not self._known(following) and self._joined(text, tokens[end - 1], following)

    def _introduced_by_role(self, text: str, tokens: list[_Token], index: int) -> bool:
        """Whether a role word or phrase comes right before ``index``, in the same sentence."""
        previous = tokens[index - 1]
        before = tuple(t.key for t in tokens[max(index - 2, 0) : index])
        if previous.key not in self.roles and before not in ROLE_PHRASES:
            return False
        return text[previous.end : tokens[index].start].strip(" :") == ""

    def _named_place(self, text: str, tokens: list[_Token], end: int) -> bool:
        """Whether a place/organisation word directly follows the name ("John Smith Hospital")."""
        if end >= len(tokens):
            return False
        following = tokens[end]
        return (
            following.capital and following.key in self.stop and not text[tokens[end - 1].end : following.start].strip()
        )

    def _best_end(self, tokens: list[_Token], index: int, end: int) -> int:
        """Prefer the longest span (up to three words after the first name) ending on a known surname or suffix.

        An everyday word that is no known name ends the span ("Charlie Crist Leads Rick Scott").
        """
        for cut in range(index + 2, end):
            if tokens[cut].key in self.common and not self._known(tokens[cut]) and tokens[cut].key not in PARTICLES:
                end = cut
                break
        for candidate in range(min(end, index + 4), index + 1, -1):
            last = tokens[candidate - 1]
            if last.key in PARTICLES:
                continue
            if last.key in self.surnames or last.key in SUFFIXES or _roman(last.text):
                return candidate
        fallback = min(end, index + 2)
        while fallback < end and (tokens[fallback - 1].key in PARTICLES or len(tokens[fallback - 1].text) == 1):
            fallback += 1  # "Ronald J. Martwick": go past particles and initials
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
