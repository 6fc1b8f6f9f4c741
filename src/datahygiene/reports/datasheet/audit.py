"""Filter-disparity audit: do filters remove rows that mention an identity group more often?

For every identity group (from ``data/identity_terms.yaml``, extendable by the
user) and every filter (reject-reason family), compare the drop rate among
rows whose text mentions the group with the drop rate among rows that mention
no group at all. Matching is vectorised with Arrow's RE2 regex kernels:
case-insensitive, on ASCII word boundaries.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from datahygiene.reports.datasheet.model import Audit, AuditCell, GroupAudit

#: Axis -> group -> terms.
IdentityTerms = dict[str, dict[str, list[str]]]

#: The pseudo-filter "removed for any reason".
ANY = "any"

_RE2_SPECIAL = re.compile(r"([\\.^$|?*+()\[\]{}])")


class IdentityTermsError(ValueError):
    """An identity-terms file that does not have the axis -> group -> [terms] shape."""


def _validate(data: object, origin: str) -> IdentityTerms:
    if not isinstance(data, dict):
        raise IdentityTermsError(f"{origin}: expected a mapping axis -> group -> list of terms")
    terms: IdentityTerms = {}
    for axis, groups in data.items():
        if not isinstance(groups, dict):
            raise IdentityTermsError(f"{origin}: axis {axis!r} must map group names to lists of terms")
        terms[str(axis)] = {}
        for group, words in groups.items():
            if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
                raise IdentityTermsError(f"{origin}: {axis}.{group} must be a non-empty list of strings")
            terms[str(axis)][str(group)] = [w.strip() for w in words]
    return terms


def load_identity_terms(extra: Path | None = None) -> IdentityTerms:
    """The shipped lists, with the groups of ``extra`` (same shape) replacing or adding to them."""
    shipped = resources.files("datahygiene").joinpath("data/identity_terms.yaml").read_text(encoding="utf-8")
    terms = _validate(yaml.safe_load(shipped), "identity_terms.yaml")
    if extra is not None:
        for axis, groups in _validate(yaml.safe_load(extra.read_text(encoding="utf-8")), str(extra)).items():
            terms.setdefault(axis, {}).update(groups)
    return terms


def term_pattern(terms: list[str]) -> str:
    """One RE2 pattern matching any of ``terms`` as whole words (spaces match any whitespace)."""
    parts = []
    for term in sorted(set(terms), key=lambda t: (-len(t), t)):
        body = r"\s+".join(_RE2_SPECIAL.sub(r"\\\1", word) for word in term.split())
        start = r"\b" if re.match(r"\w", term[0], re.ASCII) else ""
        end = r"\b" if re.match(r"\w", term[-1], re.ASCII) else ""
        parts.append(f"{start}{body}{end}")
    return "(?:" + "|".join(parts) + ")"


def mentions(text: pa.Array, pattern: str) -> npt.NDArray[np.bool_]:
    """Which rows of a string array match ``pattern`` (case-insensitive); nulls are False."""
    hit = pc.match_substring_regex(text, pattern, ignore_case=True)
    return np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)


class AuditCounter:
    """Accumulates mention and drop counts batch by batch; :meth:`result` makes the audit."""

    def __init__(self, terms: IdentityTerms) -> None:
        self.groups = [(axis, group) for axis, groups in terms.items() for group in groups]
        self.patterns = [term_pattern(terms[axis][group]) for axis, group in self.groups]
        size = len(self.groups)
        self.rows = 0
        self.no_group = 0
        self.group_rows = np.zeros(size, dtype=np.int64)
        self.group_kept = np.zeros(size, dtype=np.int64)
        self.group_dropped: dict[str, npt.NDArray[np.int64]] = {}
        self.base_dropped: dict[str, int] = {}

    def matrix(self, text: pa.Array) -> npt.NDArray[np.bool_]:
        """Rows x groups: which rows mention which group."""
        if not self.patterns:
            return np.zeros((len(text), 0), dtype=bool)
        stacked: npt.NDArray[np.bool_] = np.stack([mentions(text, pattern) for pattern in self.patterns], axis=1)
        return stacked

    def update(
        self, text: pa.Array, removed: npt.NDArray[np.bool_], families: dict[str, npt.NDArray[np.bool_]]
    ) -> npt.NDArray[np.bool_]:
        """Count one batch (rows without text are skipped); returns its mention matrix."""
        valid = np.asarray(text.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        hits: npt.NDArray[np.bool_] = self.matrix(text) & valid[:, None]
        none = valid & ~hits.any(axis=1)
        self.rows += int(valid.sum())
        self.no_group += int(none.sum())
        self.group_rows += hits.sum(axis=0)
        self.group_kept += (hits & ~removed[:, None]).sum(axis=0)
        for family, mask in {ANY: removed, **families}.items():
            dropped = hits & mask[:, None]
            self.group_dropped.setdefault(family, np.zeros(len(self.groups), dtype=np.int64))
            self.group_dropped[family] += dropped.sum(axis=0)
            self.base_dropped[family] = self.base_dropped.get(family, 0) + int((none & mask).sum())
        return hits

    def result(self, *, factor: float = 2.0, min_rows: int = 10) -> Audit:
        """Drop rates per group and filter; flags rate > ``factor`` x base rate (groups with >= ``min_rows``)."""
        base_rates = {f: (n / self.no_group if self.no_group else 0.0) for f, n in self.base_dropped.items()}
        filters = [ANY, *sorted(f for f in self.group_dropped if f != ANY)]
        groups: list[GroupAudit] = []
        for index, (axis, group) in enumerate(self.groups):
            rows = int(self.group_rows[index])
            audit = GroupAudit(axis=axis, group=group, rows=rows, rows_kept=int(self.group_kept[index]))
            for family in filters:
                counts = self.group_dropped.get(family)  # absent when no row had text (an image-only run)
                dropped = 0 if counts is None else int(counts[index])
                rate = dropped / rows if rows else 0.0
                base = base_rates.get(family, 0.0)
                ratio = rate / base if base > 0 else None
                flagged = rows >= min_rows and dropped > 0 and rate > factor * base
                audit.cells.append(
                    AuditCell(
                        filter=family,
                        dropped=dropped,
                        rate=round(rate, 6),
                        base_rate=round(base, 6),
                        ratio=None if ratio is None else round(ratio, 4),
                        flagged=flagged,
                    )
                )
            groups.append(audit)
        return Audit(
            factor=factor,
            min_rows=min_rows,
            rows_audited=self.rows,
            rows_no_group=self.no_group,
            base=dict(sorted(self.base_dropped.items())),
            groups=groups,
        )
