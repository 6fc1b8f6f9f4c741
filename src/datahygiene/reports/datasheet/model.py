"""The datasheet's data: typed records of everything the documents show."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Threshold:
    """A numeric policy rule on a column: ``column op value`` -> ``action`` with ``reason``."""

    op: str
    value: float
    action: str
    reason: str


@dataclass
class Histogram:
    """Counts of a float column in equal-width bins, split into kept and removed rows."""

    column: str
    lo: float
    hi: float
    kept: list[int]
    removed: list[int]
    nulls: int = 0
    thresholds: list[Threshold] = field(default_factory=list)

    @property
    def edges(self) -> list[float]:
        """Bin edges, one more than bins."""
        step = (self.hi - self.lo) / len(self.kept)
        return [self.lo + step * i for i in range(len(self.kept) + 1)]


@dataclass
class NumberSummary:
    """Count, mean, min and max of an integer column over kept rows."""

    column: str
    count: int
    mean: float | None
    minimum: int | None
    maximum: int | None


@dataclass
class ValueCounts:
    """How many kept and removed rows carry each value (or are non-empty) in a tag column."""

    column: str
    rows_kept: int
    rows_removed: int
    values: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class AuditCell:
    """One filter's drop rate among rows mentioning a group, against the base rate."""

    filter: str
    dropped: int
    rate: float
    base_rate: float
    ratio: float | None
    flagged: bool


@dataclass
class GroupAudit:
    """Mentions of one identity group and how each filter treated them."""

    axis: str
    group: str
    rows: int
    rows_kept: int
    cells: list[AuditCell] = field(default_factory=list)


@dataclass
class Audit:
    """The filter-disparity audit over rows with text."""

    factor: float
    min_rows: int
    rows_audited: int
    rows_no_group: int
    base: dict[str, int]
    groups: list[GroupAudit]

    @property
    def flagged(self) -> list[tuple[GroupAudit, AuditCell]]:
        """Every (group, filter) pair whose drop rate exceeds ``factor`` x the base rate."""
        return [(group, cell) for group in self.groups for cell in group.cells if cell.flagged]


@dataclass(frozen=True)
class Question:
    """A datasheet question only a person can answer, and the answer if one was given."""

    id: str
    section: str
    text: str
    answer: str | None = None


@dataclass
class GalleryItem:
    """A sample removed row for the HTML gallery (thumbnail: base64 JPEG, blurred unless asked)."""

    id: str
    route: str
    reasons: list[str]
    text: str | None
    thumbnail: str | None = None
    #: The row has an image (shown as a thumbnail when it decodes).
    has_image: bool = False


@dataclass
class Datasheet:
    """Everything the run knows about its output, plus the answers a person gave."""

    run: dict[str, Any]
    counts: dict[str, int]
    reject_reasons: dict[str, int]
    reason_families: dict[str, int]
    reason_sources: dict[str, dict[str, Any]]
    sources: list[dict[str, Any]]
    models: list[dict[str, Any]]
    policy: list[dict[str, Any]]
    modalities: dict[str, int]
    licenses: dict[str, int]
    histograms: list[Histogram]
    numbers: list[NumberSummary]
    duplicates: dict[str, dict[str, int]]
    tags: list[ValueCounts]
    faces: dict[str, int]
    audit: Audit
    questions: list[Question]
    card: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    gallery: list[GalleryItem] = field(default_factory=list)
    #: Score columns that hold no value in any row (e.g. image scores of a text-only run): not plotted.
    unscored: list[str] = field(default_factory=list)
    #: C2PA manifest state (``valid``, ``invalid``, ``unverifiable``) -> kept and removed rows.
    c2pa: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (the gallery keeps only ids and reasons: no removed text or images)."""
        data = asdict(self)
        data["gallery"] = [{k: item[k] for k in ("id", "route", "reasons")} for item in data["gallery"]]
        data["audit"]["flagged"] = [
            {"axis": group.axis, "group": group.group, "filter": cell.filter, "ratio": cell.ratio}
            for group, cell in self.audit.flagged
        ]
        return data
