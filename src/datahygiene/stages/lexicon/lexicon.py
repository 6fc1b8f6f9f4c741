"""The shipped lexicons and the matcher: English lists always, plus the list of the text's own language.

Shipped lists (``src/datahygiene/data/lexicons/``, see PROVENANCE.md there):

- ``surge_ai``: Surge AI's English profanity list (MIT): 1,598 surface forms with categories and a 1-3 severity.
- ``ldnoobw``: the LDNOOBW lists (CC-BY-4.0), one per language, no severities (counted as 1, category ``unrated``).
- ``profanity``, ``sexual``: the project's own short CC0 lists (severity 1).
- ``ambiguous_en.txt``: entries that are also ordinary words (``peter``, ``nonce``, ``hoar``, ``spook``...); they are
  still reported but count severity 1 at most.

English matching also reads elongated letters (``biiitch``), inflections (``bitches``, ``fuckin``; not where the word
or another reading of its stem is an everyday word of SCOWL's ``names/common_words.txt``, e.g. ``spiked``), camel-case
joins (``#FuckThisShit``) and letters starred out between letters (``f*ck``: the least severe entry it can spell).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from datahygiene.stages.lexicon.index import (
    Hits,
    ScriptIndex,
    Term,
    TokenIndex,
    is_latin_term,
    read_flat,
    read_surge,
)
from datahygiene.stages.lexicon.language import guess_language
from datahygiene.stages.lexicon.normalise import (
    camel_parts,
    clean_text,
    fold,
    normalise_tokens,
    starred_words,
    tokens_and_quotes,
)

#: Languages whose scripts do not separate words with spaces: their entries match as substrings.
_UNSPACED = frozenset({"ja", "zh", "th"})
SHIPPED_LISTS: tuple[str, ...] = ("surge_ai", "ldnoobw")


def shipped_root() -> Path:
    """Folder of the vendored lexicons."""
    return Path(str(resources.files("datahygiene.data") / "lexicons"))


def everyday_path() -> Path:
    """Everyday English words (SCOWL levels 10-20, shipped with the name lists) that inflection matching spares."""
    return Path(str(resources.files("datahygiene.data") / "names" / "common_words.txt"))


@dataclass
class LexiconSpec:
    """Which lists to load: shipped names, LDNOOBW languages (None: guess per text), user files and their severity."""

    lists: list[str] = field(default_factory=lambda: list(SHIPPED_LISTS))
    languages: list[str] | None = None
    files: list[Path] = field(default_factory=list)
    file_severity: float = 3.0
    ambiguous: bool = True


class Lexicon:
    """Matches English entries in every text and a language's LDNOOBW entries where that language is found."""

    def __init__(self, spec: LexiconSpec, root: Path | None = None) -> None:
        self.spec = spec
        self.root = root or shipped_root()
        self.ambiguous: frozenset[str] = frozenset()
        if spec.ambiguous:
            lines = _lines(self.root / "ambiguous_en.txt")
            self.ambiguous = frozenset(" ".join(normalise_tokens(t.text)) for t in read_flat(lines, "", 1.0, ""))
        everyday = everyday_path()
        self.english = TokenIndex(frozenset(w for w in _lines(everyday) if w and not w.startswith("#")))
        self.latin: dict[str, TokenIndex] = {}
        self.script: dict[str, ScriptIndex] = {}
        self.counts: dict[str, int] = {}
        self.sources: list[Path] = []
        for name in spec.lists:
            self._load(name)
        self.sources.append(everyday)
        for path in spec.files:
            self._index("en", read_flat(_lines(path), path.stem, spec.file_severity, "user"))
            self.sources.append(path)

    def _load(self, name: str) -> None:
        if name == "surge_ai":
            path = self.root / "surge_ai" / "profanity_en.csv"
            self._index("en", read_surge(path, name))
            self.sources.append(path)
            return
        if name == "ldnoobw":
            for path in sorted((self.root / "ldnoobw").iterdir()):
                lang = path.name
                if lang == "LICENSE" or (self.spec.languages is not None and lang not in {"en", *self.spec.languages}):
                    continue
                self._index(lang, read_flat(_lines(path), f"ldnoobw_{lang}", 1.0, "unrated"))
                self.sources.append(path)
            return
        path = self.root.parent / "blocklists" / f"{name}.txt"
        if not path.is_file():
            known = ", ".join(["surge_ai", "ldnoobw", "profanity", "sexual"])
            raise ValueError(f"blocklist: no shipped list {name!r} (shipped: {known})")
        self._index("en", read_flat(_lines(path), name, 1.0, "unrated"))
        self.sources.append(path)

    def _index(self, lang: str, terms: list[Term]) -> None:
        index = self.english if lang == "en" else self.latin.setdefault(lang, TokenIndex())
        other: list[Term] = []
        for term in terms:
            if is_latin_term(term.text):
                index.add(term, self.ambiguous if lang == "en" else frozenset())
            else:
                other.append(term)
            self.counts[term.list_name] = self.counts.get(term.list_name, 0) + 1
        if other:
            previous = list(self.script[lang].terms.values()) if lang in self.script else []
            self.script[lang] = ScriptIndex(previous + other, lang in _UNSPACED)

    def languages_for(self, text: str) -> list[str]:
        """The non-English languages whose lists apply to ``text`` (configured ones, else the guessed one)."""
        if self.spec.languages is not None:
            return [lang for lang in self.spec.languages if lang != "en"]
        lang = guess_language(text)
        return [] if lang == "en" else [lang]

    def prepare(self, text: str, clean: bool = True) -> tuple[str, list[str], frozenset[int]]:
        """Cleaned text, its normalised tokens and the quoted token positions (shared with the n-gram model)."""
        cleaned = clean_text(text) if clean else text
        tokens, quoted = tokens_and_quotes(cleaned)
        return cleaned, tokens, quoted

    def scan(self, cleaned: str, tokens: list[str], quoted: frozenset[int], languages: list[str] | None = None) -> Hits:
        """Every entry of the applicable lists in a text prepared by :meth:`prepare` (``languages``: known already)."""
        hits = Hits()
        self.english.scan(tokens, hits, quoted)
        for parts in camel_parts(cleaned):
            self.english.scan(parts, hits)
        for word in starred_words(fold(cleaned)) if "*" in cleaned else ():
            for term in self.english.starred(word):
                hits.add(term, mitigated=bool(quoted))  # no token position: any quotation in the text mitigates
        for lang in self.languages_for(cleaned) if languages is None else languages:
            if lang in self.latin:
                self.latin[lang].scan(tokens, hits, quoted)
            if lang in self.script:
                self.script[lang].scan(fold(cleaned), hits)
        return hits

    def match(self, text: str, clean: bool = True) -> Hits:
        """Every entry of the applicable lists found in ``text`` (``clean``: drop entities, URLs, handles first)."""
        return self.scan(*self.prepare(text, clean))


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()
