"""Machine-readable training opt-outs: X-Robots-Tag, TDMRep, C2PA training-mining, PLUS data mining.

Every function returns :class:`Finding` tuples ``(signal, source, value)`` so the stage can record
what triggered each signal.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from datahygiene.io.meta import C2paInfo


class Finding(NamedTuple):
    """One piece of evidence: the signal it raises, where it was found and the triggering value."""

    signal: str
    source: str
    value: str


_ROBOTS_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_HEADER_LINE = re.compile(r"^\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*:\s*(.*?)\s*$")
_PLUS_OPT_OUT = {
    "DMI-PROHIBITED",
    "DMI-PROHIBITED-AIMLTRAINING",
    "DMI-PROHIBITED-GENAIMLTRAINING",
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING",
}
_PLUS_CONSTRAINED = {
    "DMI-PROHIBITED-SEECONSTRAINT",
    "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR",
    "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR",
}
#: C2PA / CAWG training-mining entries that concern building a training set.
TRAINING_ENTRIES: tuple[str, ...] = (
    "c2pa.ai_training",
    "c2pa.ai_generative_training",
    "c2pa.data_mining",
    "cawg.ai_training",
    "cawg.ai_generative_training",
    "cawg.data_mining",
)


def parse_headers(value: Any) -> dict[str, list[str]]:
    """Stored HTTP headers in any common shape -> lower-case name -> values.

    Accepts a mapping (or Arrow map: list of pairs), a JSON object / list-of-pairs string, or a raw
    header block (``Name: value`` lines). Anything else gives no headers.
    """
    if value is None:
        return {}
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith(("{", "[")):
            try:
                return parse_headers(json.loads(stripped))
            except ValueError:
                return {}
        headers: dict[str, list[str]] = {}
        for line in stripped.splitlines():
            match = _HEADER_LINE.match(line)
            if match is not None:
                headers.setdefault(match.group(1).lower(), []).append(match.group(2))
        return headers
    pairs: Iterable[Any]
    if isinstance(value, Mapping):
        pairs = value.items()
    elif isinstance(value, list | tuple):
        pairs = value
    else:
        return {}
    headers = {}
    for pair in pairs:
        if not isinstance(pair, list | tuple) or len(pair) != 2 or not isinstance(pair[0], str):
            continue
        name, raw = pair
        values = raw if isinstance(raw, list | tuple) else [raw]
        headers.setdefault(name.lower(), []).extend(str(v) for v in values if v is not None)
    return headers


def robots_findings(values: Iterable[str], source: str, *, has_image: bool) -> list[Finding]:
    """``opt_out:robots`` for ``noai`` anywhere, and ``noimageai`` on rows with an image.

    Directives may be scoped to a user agent (``otherbot: noai``); any scope counts, since a
    training crawler is whoever reads the data now.
    """
    found: list[Finding] = []
    for value in values:
        tokens = {token.lower() for token in _ROBOTS_TOKEN.findall(value)}
        if "noai" in tokens or ("noimageai" in tokens and has_image):
            found.append(Finding("opt_out:robots", source, value.strip()[:200]))
    return found


def tdm_header_findings(headers: Mapping[str, list[str]]) -> list[Finding]:
    """``opt_out:tdmrep`` for a ``tdm-reservation: 1`` header (with its ``tdm-policy`` if any)."""
    reservations = headers.get("tdm-reservation", [])
    if not any(value.strip() == "1" for value in reservations):
        return []
    policy = headers.get("tdm-policy", [])
    detail = "tdm-reservation: 1" + (f"; tdm-policy: {policy[0]}" if policy else "")
    return [Finding("opt_out:tdmrep", "header:tdm-reservation", detail)]


def _reserved(entry: Mapping[str, Any]) -> bool:
    value = entry.get("tdm-reservation", entry.get("tdm_reservation"))
    return str(value).strip() in ("1", "true", "True")


def tdmrep_policy_findings(policy: Any, url: str | None, source: str) -> list[Finding]:
    """``opt_out:tdmrep`` from a stored TDMRep policy: a ``tdmrep.json`` list of rules with
    ``location`` patterns (matched against the row's URL path), or one ``{tdm-reservation: 1}`` object.
    """
    data = policy
    if isinstance(policy, str):
        try:
            data = json.loads(policy)
        except ValueError:
            return []
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list):
        return []
    path = (urlsplit(url).path or "/") if url else None
    for rule in data:
        if not isinstance(rule, Mapping):
            continue
        location = rule.get("location")
        if isinstance(location, str) and path is not None and not fnmatch.fnmatchcase(path, location):
            continue
        if isinstance(location, str) and path is None:
            continue
        if _reserved(rule):
            detail = f"location {location}" if isinstance(location, str) else "tdm-reservation: 1"
            if isinstance(rule.get("tdm-policy"), str):
                detail += f"; tdm-policy: {rule['tdm-policy']}"
            return [Finding("opt_out:tdmrep", source, detail)]
        if isinstance(location, str):
            return []  # the first matching rule decides, as in the TDMRep spec
    return []


def c2pa_findings(info: C2paInfo, entries: Iterable[str]) -> list[Finding]:
    """``opt_out:c2pa`` for a ``notAllowed`` training-mining entry, ``training_constrained:c2pa`` for
    ``constrained`` (with its constraint_info)."""
    found: list[Finding] = []
    for entry in entries:
        use = info.training_mining.get(entry)
        if use == "notAllowed":
            found.append(Finding("opt_out:c2pa", "c2pa:training-mining", f"{entry}=notAllowed"))
        elif use == "constrained":
            constraint = info.constraints.get(entry)
            detail = f"{entry}=constrained" + (f" ({constraint})" if constraint else "")
            found.append(Finding("training_constrained:c2pa", "c2pa:training-mining", detail))
    return found


def plus_findings(values: Iterable[str]) -> list[Finding]:
    """PLUS ``plus:DataMining`` (IPTC 2023.1): prohibited -> ``opt_out:plus``; prohibited but
    see constraint -> ``training_constrained:plus``; allowed non-commercially -> ``license:nc``."""
    found: list[Finding] = []
    for value in values:
        code = value.rstrip("/").rsplit("/", 1)[-1].strip()
        if code.upper() in _PLUS_OPT_OUT:
            found.append(Finding("opt_out:plus", "xmp:plus:DataMining", value))
        elif code.upper() in _PLUS_CONSTRAINED:
            found.append(Finding("training_constrained:plus", "xmp:plus:DataMining", value))
        elif code.upper() == "DMI-ALLOWED-NONCOMMERCIAL":
            found.append(Finding("license:nc", "xmp:plus:DataMining", value))
    return found
