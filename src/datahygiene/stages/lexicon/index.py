"""Lexicon entries (severity, categories, ambiguity) and the indexes that find them in normalised text."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from datahygiene.stages.lexicon.normalise import fold, normalise_tokens, stems, unelongated

#: Surge AI category names -> the short names used in ``blocklist_categories``.
SURGE_CATEGORIES = {
    "racial / ethnic slurs": "race",
    "sexual orientation / gender": "gender_sexuality",
    "religious offense": "religion",
    "mental disability": "disability",
    "physical disability": "disability",
    "sexual anatomy / sexual acts": "sexual",
    "bodily fluids / excrement": "excrement",
    "other / general insult": "insult",
    "animal references": "animal",
    "physical attributes": "physical",
    "political": "political",
}
#: Categories that attack people for who they are: a severe hit in one of them is a slur.
IDENTITY_CATEGORIES = frozenset({"race", "gender_sexuality", "religion", "disability"})
#: Severity (Surge AI's 1-3 scale) from which an unambiguous hit is severe.
SEVERE = 2.5
#: Severity from which an unambiguous hit outside a self-reference or quotation sets the toxicity floor: Surge AI's
#: "strong" terms (2.0-2.4: ``fucking``, ``hoe``, ``slut``, ``jigaboo``...) as well as the severe ones.
FLOOR = 2.0
#: Words before a hit that make it a self-reference (reclaimed use: "we call ourselves ...", "my ..."); ``ima`` is
#: "I'm a" once its single letters are re-joined.
_SELF = frozenset({"i", "im", "ima", "me", "my", "we", "us", "our", "ourselves", "myself", "proud"})
#: Words after a slur that make it one: reflexives and ``proud``, or ``like me`` / ``like us``. A bare ``I``/``me``
#: after a slur mostly opens a new clause and the slur addresses someone else (``nigga I was there``).
_SELF_AFTER = frozenset({"myself", "ourselves", "proud"})
#: Words whose canonical form :class:`TokenIndex` remembers before starting over (bounds memory on big corpora).
_CANON_CACHE = 200_000


@dataclass(frozen=True)
class Term:
    """One entry: display form, severity (1 mild .. 3 severe), categories, list, and whether it is ambiguous."""

    text: str
    severity: float
    categories: tuple[str, ...]
    list_name: str
    ambiguous: bool = False

    @property
    def weight(self) -> float:
        """The severity that counts: an ambiguous entry (ordinary word, name, clinical word) counts 1 at most."""
        return min(self.severity, 1.0) if self.ambiguous else self.severity


@dataclass
class Hits:
    """What one text matched: terms, lists, categories, the highest counted severity, and the floor flag."""

    terms: list[str] = field(default_factory=list)
    lists: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    severity: float = 0.0
    #: The highest counted severity among hits in an identity category (race, gender/sexuality, religion, disability).
    identity: float = 0.0
    slur: bool = False
    #: An unambiguous hit of severity >= :data:`FLOOR` outside a mitigating context (self-reference, quotation).
    floor: bool = False

    def add(self, term: Term, mitigated: bool = False) -> None:
        """Record one matched entry."""
        if term.text not in self.terms:
            self.terms.append(term.text)
        if term.list_name not in self.lists:
            self.lists.append(term.list_name)
        for category in term.categories:
            if category not in self.categories:
                self.categories.append(category)
        weight = term.weight
        self.severity = max(self.severity, weight)
        if IDENTITY_CATEGORIES.intersection(term.categories):
            self.identity = max(self.identity, weight)
        if weight >= SEVERE:
            self.slur = self.slur or bool(IDENTITY_CATEGORIES.intersection(term.categories))
        if weight >= FLOOR:
            self.floor = self.floor or not mitigated


def _junk_key(key: tuple[str, ...], surface: str) -> bool:
    """A one-token key that is a number, under three letters, or a three-letter stub of an obfuscated form.

    ``sh! +`` and ``shi+`` normalise to ``sh`` and ``shi``, ``69`` is a number: as whole words in ordinary text these
    are shell names, syllables and page numbers far more often than insults.
    """
    if len(key) != 1:
        return False
    token = key[0]
    return token.isdigit() or len(token) < 3 or (len(token) == 3 and token != fold(surface).strip())


def _mitigated(tokens: list[str], i: int, quoted: frozenset[int], term: Term) -> bool:
    """Position ``i`` in quotes, or a self-reference near it: any :data:`_SELF` word within three tokens before.

    After the term, an identity-category term (a slur) needs a reflexive, ``proud`` (three tokens) or ``like me/us``;
    any other term keeps the wider window (a :data:`_SELF` word within two after: "fuck, I missed the bus").
    """
    if i in quoted or any(t in _SELF for t in tokens[max(0, i - 3) : i]):
        return True
    if not IDENTITY_CATEGORIES.intersection(term.categories):
        return any(t in _SELF for t in tokens[i + 1 : i + 3])
    return any(t in _SELF_AFTER for t in tokens[i + 1 : i + 4]) or (
        tokens[i + 1 : i + 2] == ["like"] and tokens[i + 2 : i + 3] in (["me"], ["us"])
    )


class TokenIndex:
    """Normalised token sequences -> entries; one entry per list and key (the most severe surface form wins).

    ``everyday``: ordinary words of the index's language; with them, English inflections are undone (``bitches``,
    ``fuckin``, ``trannies``) unless the word or another reading of its stem is an ordinary word (``spiked``).
    Without them only a plural ``-s`` is.
    """

    def __init__(self, everyday: frozenset[str] | None = None) -> None:
        self.entries: dict[tuple[str, ...], list[Term]] = {}
        self.first: set[str] = set()
        self.longest = 1
        self.everyday = everyday
        self._canon: dict[str, str] = {}

    def add(self, term: Term, ambiguous: frozenset[str] = frozenset()) -> None:
        """Index ``term`` under its normalised tokens; its display form becomes the normalised key."""
        key = tuple(normalise_tokens(term.text))
        if not key:
            return
        display = " ".join(key)
        flagged = term.ambiguous or display in ambiguous or _junk_key(key, term.text)
        term = Term(display, term.severity, term.categories, term.list_name, flagged)
        bucket = self.entries.setdefault(key, [])
        same = [t for t in bucket if t.list_name == term.list_name]
        if same and same[0].weight >= term.weight:
            return
        if same:
            bucket.remove(same[0])
        bucket.append(term)
        self.first.add(key[0])
        self.longest = max(self.longest, len(key))

    def canonical(self, token: str) -> str:
        """``token``, or the reading of it that starts an entry: letters un-elongated, then an inflection undone."""
        if token in self.first:
            return token
        known = self._canon.get(token)
        if known is not None:
            return known
        found = token
        for reading in (token, *unelongated(token)):
            if reading in self.first:
                found = reading
                break
            stem = self._stem(reading)
            if stem:
                found = stem
                break
        if len(self._canon) >= _CANON_CACHE:
            self._canon.clear()
        self._canon[token] = found
        return found

    def _stem(self, token: str) -> str | None:
        if self.everyday is None:
            return token[:-1] if len(token) > 4 and token[-1] == "s" and token[:-1] in self.first else None
        if token in self.everyday:
            return None
        readings = stems(token)
        if any(r in self.everyday and r not in self.first for r in readings):
            return None
        return next((r for r in readings if r in self.first), None)

    def scan(self, tokens: list[str], hits: Hits, quoted: frozenset[int] = frozenset()) -> None:
        """Add every entry whose token sequence occurs in ``tokens``, each token read by :meth:`canonical`.

        A hit is mitigated (it sets no floor) by a self-reference near it (see :func:`_mitigated`) or when it is
        inside a quotation (``quoted`` positions).
        """
        entries, first, longest, count = self.entries, self.first, self.longest, len(tokens)
        canon = self._canon
        keyed = [t if t in first else canon.get(t) or self.canonical(t) for t in tokens]
        for i, token in enumerate(keyed):
            if token not in first:
                continue
            for k in range(1, min(longest, count - i) + 1):
                for term in entries.get(tuple(keyed[i : i + k]), ()):
                    hits.add(term, _mitigated(tokens, i, quoted, term))

    def starred(self, word: str) -> list[Term]:
        """Entries of the least severe one-token key that ``word``'s starred-out letters (``f*ck``) can spell.

        Keys with vowels under the stars are preferred (``f*cking`` is ``fucking``, not the variant ``fvcking``).
        """
        if len(word) < 4 or word.count("*") > len(word) - 2:
            return []
        pattern = re.compile(word.replace("*", "[a-z]"))
        keys = [
            key
            for key in self.entries
            if len(key) == 1 and len(key[0]) == len(word) and key[0][0] == word[0] and pattern.fullmatch(key[0])
        ]
        stars = [i for i, ch in enumerate(word) if ch == "*"]
        vowels = [key for key in keys if all(key[0][i] in "aeiou" for i in stars)]  # people star out vowels
        if not keys:
            return []
        return self.entries[min(vowels or keys, key=lambda key: max(t.weight for t in self.entries[key]))]


class ScriptIndex:
    """Entries of a non-Latin script, matched on folded text: whole words, or substrings for CJK and Thai."""

    def __init__(self, terms: list[Term], substring: bool) -> None:
        self.terms = {fold(t.text): t for t in terms}
        alternation = "|".join(re.escape(k) for k in sorted(self.terms, key=len, reverse=True))
        self.pattern = re.compile(alternation if substring else rf"(?<!\w)(?:{alternation})(?!\w)")

    def scan(self, folded: str, hits: Hits) -> None:
        """Add every entry found in ``folded`` (text passed through :func:`fold`)."""
        for found in self.pattern.findall(folded):
            hits.add(self.terms[found])


def read_surge(path: Path, list_name: str) -> list[Term]:
    """Surge AI's CSV (``text``, ``category_1..3``, ``severity_rating``) as terms."""
    terms: list[Term] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            names = (row.get("category_1"), row.get("category_2"), row.get("category_3"))
            categories = tuple(dict.fromkeys(SURGE_CATEGORIES.get(c, "other") for c in names if c))
            terms.append(Term(row["text"].strip(), float(row["severity_rating"]), categories, list_name))
    return terms


def read_flat(lines: Iterable[str], list_name: str, severity: float, category: str) -> list[Term]:
    """A one-term-per-line list (``#`` comment lines); optional ``term<TAB>severity<TAB>cat1,cat2`` columns."""
    terms: list[Term] = []
    for line in lines:
        parts = [p.strip() for p in line.split("#", 1)[0].split("\t")]
        if not parts[0]:
            continue
        level = float(parts[1]) if len(parts) > 1 and parts[1] else severity
        categories = tuple(c for c in parts[2].split(",") if c) if len(parts) > 2 else (category,)
        terms.append(Term(parts[0], level, categories, list_name))
    return terms


def is_latin_term(text: str) -> bool:
    """True when the term is written in Latin letters (matched by :class:`TokenIndex`, else :class:`ScriptIndex`)."""
    return bool(normalise_tokens(text)) and all(ord(ch) < 0x250 or not ch.isalpha() for ch in text)
