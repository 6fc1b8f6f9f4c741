"""The rights lists: phrase lists (agencies), domain lists (stock sources) and do-not-train lists.

Shipped lists live in ``datahygiene/data/rights/``; user files use the same line formats.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

_HEX64 = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")


def list_lines(text: str) -> list[str]:
    """Non-empty lines with ``#`` comments removed (a ``#`` inside a URL fragment needs no escaping:
    comments start at `` #`` or at the line start)."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.split(" #", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def shipped_lines(name: str) -> list[str]:
    """The lines of a shipped list file (``agencies``, ``stock_domains`` ...)."""
    return list_lines(resources.files("datahygiene.data.rights").joinpath(f"{name}.txt").read_text(encoding="utf-8"))


def gather(names: Iterable[str], files: Iterable[Path]) -> list[tuple[str, str]]:
    """``(origin, line)`` for every entry of the named shipped lists and user files."""
    entries = [(name, line) for name in names for line in shipped_lines(name)]
    for path in files:
        entries.extend((str(path), line) for line in list_lines(path.read_text(encoding="utf-8")))
    return entries


_RE2_SPACE = r"\s\p{Z}\x{85}\x{0b}\x{1c}-\x{1f}"
_RE2_WORD = r"\p{L}\p{N}_"
#: Python escape -> (RE2 text outside a class, inside a class); None: not expressible, no prefilter.
_RE2_ESCAPES: dict[str, tuple[str | None, str | None]] = {
    "b": ("", None),  # zero-width: dropping it only widens the match set
    "B": ("", None),
    "w": (f"[{_RE2_WORD}]", _RE2_WORD),
    "W": (f"[^{_RE2_WORD}]", None),
    "d": (r"\p{Nd}", r"\p{Nd}"),
    "D": (r"\P{Nd}", r"\P{Nd}"),
    "s": (f"[{_RE2_SPACE}]", _RE2_SPACE),
    "S": (f"[^{_RE2_SPACE}]", None),
    "Z": (r"\z", None),
}


def re2_superset(pattern: str) -> str | None:
    """An RE2 pattern matching at least every string the Python ``pattern`` matches, or None.

    Word boundaries are dropped and ``\\w``, ``\\d``, ``\\s`` become their Unicode classes; lookarounds,
    backreferences and the like do not compile in RE2 (checked by the caller).
    """
    if re.compile(pattern).flags & (re.MULTILINE | re.VERBOSE):
        return None
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "$" and not in_class:  # Python's $ also matches before a final newline
            out.append(r"(?:\n?\z)")
            i += 1
            continue
        if char == "\\" and i + 1 < len(pattern):
            escape = pattern[i + 1]
            mapped = _RE2_ESCAPES.get(escape)
            if mapped is None:
                out.append(pattern[i : i + 2])
            else:
                text = mapped[1] if in_class else mapped[0]
                if text is None:
                    return None
                out.append(text)
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            out.append(char)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":  # a leading ] is a literal
                out.append("\\]")
                i += 1
        elif char == "]" and in_class:
            in_class = False
            out.append(char)
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _re2_compiles(pattern: str) -> bool:
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


class PhraseMatcher:
    """Phrases (whole words, case-insensitive) and ``re:`` regular expressions, found in one pass.

    :meth:`candidates` screens a whole Arrow column with RE2 (a superset of the Python matches);
    :meth:`find` extracts the matches of one string with Python's ``re``. An entry that RE2 cannot
    express (lookarounds, backreferences) makes every row a candidate: correct, only slower.
    """

    def __init__(self, lines: Iterable[str]) -> None:
        regexes: list[str] = []
        phrases: list[str] = []
        for line in lines:
            if line.startswith("re:"):
                re.compile(line[3:])  # a bad user regex fails here, naming itself
                regexes.append(line[3:])
            else:
                phrases.append(" ".join(line.split()))
        # Longest phrase first, so "Alamy Stock Photo" wins over "Alamy" at the same position.
        words = [r"\s+".join(re.escape(w) for w in p.split()) for p in sorted(set(phrases), key=len, reverse=True)]
        parts = [f"(?:{r})" for r in regexes]
        if words:
            parts.insert(0, r"(?<![\w/.])(?i:" + "|".join(words) + r")(?!\w)")
        self.count = len(regexes) + len(set(phrases))
        self.pattern = re.compile("|".join(parts)) if parts else None
        screens = [f"(?i:{w.replace(chr(92) + 's+', '[' + _RE2_SPACE + ']+')})" for w in words]
        self.unscreened: list[str] = []
        for regex in regexes:
            superset = re2_superset(regex)
            if superset is not None and _re2_compiles(superset):
                screens.append(f"(?:{superset})")
            else:
                self.unscreened.append(regex)
        self.screen = "|".join(screens) if screens else None

    def candidates(self, column: pa.Array) -> npt.NDArray[np.bool_]:
        """Rows of a string column that may hold a match (never misses one that :meth:`find` reports)."""
        if self.pattern is None:
            return np.zeros(len(column), dtype=np.bool_)
        if self.unscreened or self.screen is None:
            return np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
        hits = pc.fill_null(pc.match_substring_regex(column, self.screen), False)
        return np.asarray(hits.to_numpy(zero_copy_only=False), dtype=np.bool_)

    def find(self, text: str, *, extend: int = 0) -> list[str]:
        """The distinct matches in order of appearance, each with up to ``extend`` more characters of
        its line (so a notice's holder is part of the evidence)."""
        if self.pattern is None or not text:
            return []
        found: list[str] = []
        covered = 0
        for match in self.pattern.finditer(text):
            if match.start() < covered:  # inside the previous hit's excerpt
                continue
            value = match.group(0)
            if extend:
                value += text[match.end() : match.end() + extend].split("\n", 1)[0]
            covered = match.start() + len(value)
            value = " ".join(value.split())
            if value and value not in found:
                found.append(value)
        return found


def url_host(url: str) -> str | None:
    """Lower-case host of ``url`` (scheme optional), without port or trailing dot."""
    candidate = url.strip()
    if not candidate:
        return None
    if "://" not in candidate[:12]:
        candidate = "//" + candidate
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        return None
    return host.rstrip(".") if host else None


def domain_match(host: str, domains: set[str]) -> str | None:
    """The listed domain that ``host`` is or is a subdomain of."""
    parts = host.split(".")
    for start in range(len(parts) - 1):
        suffix = ".".join(parts[start:])
        if suffix in domains:
            return suffix
    return None


def normalise_url(url: str) -> str:
    """``host/path?query`` in a comparable form: no scheme, no ``www.``, no fragment, no trailing ``/``."""
    candidate = url.strip()
    if "://" not in candidate[:12]:
        candidate = "//" + candidate
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return url.strip()
    host = host.removeprefix("www.")
    path = parts.path.rstrip("/")
    return f"{host}{path}" + (f"?{parts.query}" if parts.query else "")


@dataclass
class DoNotTrain:
    """A local do-not-train list: domains, URLs (exact or ``*`` prefixes) and content sha256 hashes."""

    domains: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    prefixes: list[tuple[str, str]] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    _domain_set: set[str] = field(default_factory=set)

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, str]]) -> DoNotTrain:
        """Classify each ``(origin, line)``: a hash, a URL (has ``/``) or a domain."""
        built = cls()
        for origin, line in entries:
            digest = _HEX64.match(line)
            if digest is not None:
                built.hashes[digest.group(1).lower()] = origin
            elif line.endswith("*"):
                built.prefixes.append((normalise_url(line[:-1]), origin))
            elif "/" in line:
                built.urls[normalise_url(line)] = origin
            else:
                built.domains[line.lower().strip(".")] = origin
        built._domain_set = set(built.domains)
        return built

    @property
    def empty(self) -> bool:
        """True when the list has no entries (and hashing can be skipped)."""
        return not (self.domains or self.urls or self.prefixes or self.hashes)

    def match_domain(self, host: str) -> tuple[str, str] | None:
        """``(what matched, origin file)`` for a host that is, or is below, a listed domain."""
        domain = domain_match(host, self._domain_set) if self.domains else None
        return None if domain is None else (f"domain {domain}", self.domains[domain])

    def match_listed_url(self, url: str) -> tuple[str, str] | None:
        """``(what matched, origin file)`` for a URL listed exactly or under a ``*`` prefix."""
        if not (self.urls or self.prefixes):
            return None
        key = normalise_url(url)
        if key in self.urls:
            return f"url {url}", self.urls[key]
        for prefix, origin in self.prefixes:
            if key.startswith(prefix):
                return f"url prefix {prefix}*", origin
        return None

    def match_url(self, url: str) -> tuple[str, str] | None:
        """``(what matched, origin file)`` for a URL on the list by domain, exact URL or prefix."""
        host = url_host(url)
        hit = self.match_domain(host) if host is not None else None
        return hit if hit is not None else self.match_listed_url(url)

    def match_content(self, content: bytes) -> tuple[str, str] | None:
        """``(what matched, origin file)`` when the content's sha256 is on the list."""
        if not self.hashes:
            return None
        digest = hashlib.sha256(content).hexdigest()
        origin = self.hashes.get(digest)
        return None if origin is None else (f"sha256:{digest}", origin)
