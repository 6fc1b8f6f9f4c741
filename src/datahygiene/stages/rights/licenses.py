"""Licence strings -> SPDX-like ids with restriction flags.

Creative Commons licences are parsed from their names (``CC BY-NC-SA 4.0``, ``Attribution-NoDerivatives
4.0 International``, ``by-nc``) and URLs (``creativecommons.org/licenses/by-nc/4.0``,
``.../publicdomain/zero/1.0``); everything else comes from a table of regular expressions
(``data/rights/licenses.yaml`` plus user files). A string that matches nothing is ``unknown``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

#: Flags that make a licence restrictive; permissive licences carry none of them.
RESTRICTIVE_FLAGS = ("nc", "nd", "proprietary", "unknown")
KNOWN_FLAGS = frozenset({"nc", "nd", "sa", "proprietary", "unknown"})

_CC_URL = re.compile(r"creativecommons\.org/(licenses|publicdomain)/([a-z\-+]+)(?:/(\d(?:\.\d)?))?", re.IGNORECASE)
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_SPDX_URL = re.compile(r"(?:opensource\.org|spdx\.org)/licenses/([A-Za-z0-9.+\-]+)", re.IGNORECASE)
_PUNCT = re.compile(r"[\s_,;:()\[\]{}\"'!?<>*#|\-]+")
_VERSION = re.compile(r"^v?\d(?:\.\d)?$")
_CC_PHRASES = (
    (re.compile(r"creative ?commons"), "cc"),
    (re.compile(r"\bnon ?commercial\b"), "nc"),
    (re.compile(r"\bno ?deriv(?:ative)?s?(?: works)?\b|\bno ?derivative works\b"), "nd"),
    (re.compile(r"\bshare ?alike\b"), "sa"),
    (re.compile(r"\battribution\b"), "by"),
    (re.compile(r"\bcc ?0\b|\bcc zero\b|\bpublic domain dedication\b"), "cc0"),
)
_CC_NOISE = frozenset({"cc", "license", "international", "unported", "generic", "version", "deed", "legalcode", "igo"})
_FRAGMENT = re.compile(r"[.;|]\s+|\blicensed under\b|\blicense:", re.IGNORECASE)


@dataclass(frozen=True)
class License:
    """A parsed licence: an SPDX-like id and its flags (``nc``, ``nd``, ``sa``, ``proprietary``, ``unknown``)."""

    id: str
    flags: frozenset[str] = frozenset()

    @property
    def restrictive(self) -> tuple[str, ...]:
        """The flags that produce ``license:<flag>`` signals, in a fixed order."""
        return tuple(flag for flag in RESTRICTIVE_FLAGS if flag in self.flags)

    @property
    def recognised(self) -> bool:
        """True for a named licence (not a bare rights claim and not unknown)."""
        return not ({"unknown", "proprietary"} & self.flags)


UNKNOWN = License("LicenseRef-Unknown", frozenset({"unknown"}))


def normalise(text: str) -> str:
    """Lower case, ``licence`` -> ``license``, ``(c)`` -> ``©``, punctuation and dashes to single spaces."""
    lowered = text.casefold().replace("licence", "license").replace("(c)", "©")
    return _PUNCT.sub(" ", lowered).strip(" .")


@dataclass(frozen=True)
class _Entry:
    license: License
    pattern: re.Pattern[str]


def _entries(raw: object, origin: str) -> list[_Entry]:
    if not isinstance(raw, list):
        raise ValueError(f"{origin}: expected a list of {{id, flags, patterns}} entries")
    entries: list[_Entry] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ValueError(f"{origin}: every entry needs an 'id'")
        flags = frozenset(item.get("flags") or [])
        if not flags <= KNOWN_FLAGS:
            raise ValueError(f"{origin}: {item['id']}: unknown flags {sorted(flags - KNOWN_FLAGS)}")
        patterns = item.get("patterns") or []
        combined = "|".join(f"(?:{p})" for p in [re.escape(normalise(item["id"])), *patterns])
        entries.append(_Entry(License(item["id"], flags), re.compile(combined)))
    return entries


class LicenseParser:
    """Parses licence strings with the shipped table and any user tables (tried first)."""

    def __init__(self, files: Iterable[Path] = ()) -> None:
        self.entries: list[_Entry] = []
        for path in files:
            self.entries.extend(_entries(yaml.safe_load(path.read_text(encoding="utf-8")), str(path)))
        shipped = resources.files("datahygiene.data.rights").joinpath("licenses.yaml").read_text(encoding="utf-8")
        self.entries.extend(_entries(yaml.safe_load(shipped), "licenses.yaml"))
        self._cache: dict[str, License | None] = {}

    def parse(self, text: str | None) -> License | None:
        """The licence named by ``text``; None for an empty value, :data:`UNKNOWN` when unrecognised."""
        if text is None or not text.strip():
            return None
        cached = self._cache.get(text)
        if cached is not None or text in self._cache:
            return cached
        result = self._parse(text)
        if len(self._cache) < 100_000:
            self._cache[text] = result
        return result

    def _parse(self, text: str) -> License:
        whole = self._one(text)
        if whole.recognised or len(text) < 8:
            return whole
        # Longer statements ("Copyright 2020 X. Licensed under MIT"): a named licence in any part wins,
        # then a rights claim, then unknown.
        parts = [self._one(part) for part in _FRAGMENT.split(text) if part and part.strip()]
        for wanted in (lambda lic: lic.recognised, lambda lic: "proprietary" in lic.flags):
            for part in parts:
                if wanted(part):
                    return part
        return whole

    def _one(self, text: str) -> License:
        url = _CC_URL.search(text)
        if url is not None:
            return _cc_from_url(url)
        spdx = _SPDX_URL.search(text)
        if spdx is not None:
            return self._one(spdx.group(1))
        stripped = _URL.sub(" ", text)
        key = normalise(stripped)
        if not key:
            return UNKNOWN
        cc = _cc_from_name(key)
        if cc is not None:
            return cc
        for entry in self.entries:
            if entry.pattern.fullmatch(key):
                return entry.license
        return UNKNOWN


def _cc_id(elements: list[str], version: str | None) -> License:
    flags = frozenset(e for e in ("nc", "nd", "sa") if e in elements)
    name = "-".join(["CC", "BY", *(e.upper() for e in ("nc", "nd", "sa") if e in flags)])
    return License(f"{name}-{version}" if version else name, flags)


def _cc_from_url(match: re.Match[str]) -> License:
    kind, path, version = match.group(1).lower(), match.group(2).lower(), match.group(3)
    if kind == "publicdomain":
        return License("CC0-1.0" if path == "zero" else "LicenseRef-PublicDomain")
    elements = path.split("-")
    if "by" not in elements:
        return UNKNOWN
    return _cc_id(elements, version)


def _cc_from_name(key: str) -> License | None:
    for pattern, replacement in _CC_PHRASES:
        key = pattern.sub(replacement, key)
    tokens = key.split()
    if "cc0" in tokens and set(tokens) <= _CC_NOISE | {"cc0", "1.0", "universal", "public", "domain"}:
        return License("CC0-1.0")
    if "by" not in tokens:
        return None
    if not ("cc" in tokens or tokens[0] == "by"):
        return None
    versions = [t.lstrip("v") for t in tokens if _VERSION.match(t)]
    rest = [t for t in tokens if t not in _CC_NOISE and not _VERSION.match(t)]
    if not set(rest) <= {"by", "nc", "nd", "sa"}:
        return None
    version = versions[0] if versions else None
    if version is not None and "." not in version:
        version += ".0"
    return _cc_id(rest, version)
