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


class PhraseMatcher:
    """One regular expression over every phrase: whole words, case-insensitive; ``re:`` lines verbatim."""

    def __init__(self, lines: Iterable[str]) -> None:
        parts: list[str] = []
        phrases: list[str] = []
        for line in lines:
            if line.startswith("re:"):
                re.compile(line[3:])  # a bad user regex fails here, naming itself
                parts.append(f"(?:{line[3:]})")
            else:
                phrases.append(line)
        # Longest phrase first, so "Alamy Stock Photo" wins over "Alamy" at the same position.
        for line in sorted(set(phrases), key=len, reverse=True):
            words = r"\s+".join(re.escape(word) for word in line.split())
            parts.append(rf"(?i:(?<![\w/.]){words}(?!\w))")
        self.count = len(parts)
        self.pattern = re.compile("|".join(parts)) if parts else None

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
        return built

    @property
    def empty(self) -> bool:
        """True when the list has no entries (and hashing can be skipped)."""
        return not (self.domains or self.urls or self.prefixes or self.hashes)

    def match_url(self, url: str) -> tuple[str, str] | None:
        """``(what matched, origin file)`` for a URL on the list."""
        host = url_host(url)
        if host is not None and self.domains:
            domain = domain_match(host, set(self.domains))
            if domain is not None:
                return f"domain {domain}", self.domains[domain]
        if self.urls or self.prefixes:
            key = normalise_url(url)
            if key in self.urls:
                return f"url {url}", self.urls[key]
            for prefix, origin in self.prefixes:
                if key.startswith(prefix):
                    return f"url prefix {prefix}*", origin
        return None

    def match_content(self, content: bytes) -> tuple[str, str] | None:
        """``(what matched, origin file)`` when the content's sha256 is on the list."""
        if not self.hashes:
            return None
        digest = hashlib.sha256(content).hexdigest()
        origin = self.hashes.get(digest)
        return None if origin is None else (f"sha256:{digest}", origin)
