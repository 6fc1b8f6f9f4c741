"""The contract every scorer, tagger and dedup stage implements.

Stages only *add* columns (score, then decide): they never drop rows or change
existing columns, except columns a stage declares it *amends* (dedup appends the
signals a kept row inherits from its duplicates; nothing is ever removed). The
policy turns the columns into verdicts afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, cast, runtime_checkable

from datahygiene.core.strict import StrictModel
from datahygiene.core.timing import StageTimes

if TYPE_CHECKING:  # annotations only: the config and the CLI's help import this module without them
    import pyarrow as pa
    from PIL import Image

    from datahygiene.core.reasons import Reasons


class StageParams(StrictModel):
    """Base class of every stage's parameters; unknown keys are errors."""


#: ``Batch.artifacts`` key of a ``dict[int, bytes]``: row -> encoded image the runner writes
#: instead of the row's original image when the policy keeps the row (a stage that blurs
#: faces puts the blurred image here; rejected and quarantined rows keep the original).
IMAGE_REPLACEMENTS = "image_replacements"


@dataclass(frozen=True)
class StageContext:
    """Run-wide settings a stage may need to load its models."""

    models_dir: Path | None = None
    offline: bool = False
    device: str = "auto"
    #: Persistent dedup index shared across runs (``--dedup-index DIR``), if any.
    #: The cross-run dedup index: a local folder or a folder URL.
    dedup_index: Path | str | None = None


@dataclass
class Batch:
    """One record batch on its way through the stages.

    ``records`` holds the canonical columns (``id``, ``text``, ``image`` ...),
    the passthrough input columns and every column added so far. ``images``
    holds the decoded picture of each row (``None`` where there is no image or
    it failed to decode), decoded once and shared by all stages. ``artifacts``
    carries per-batch intermediates between stages that are not written out
    (for example image embeddings computed once and reused by dedup).
    """

    records: pa.RecordBatch
    images: list[Image.Image | None] | None = None
    artifacts: dict[str, Any] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        rows: int = self.records.num_rows
        return rows

    def column(self, name: str) -> pa.Array | None:
        """The named column, or ``None`` when the batch has no such column."""
        index = self.records.schema.get_field_index(name)
        return None if index < 0 else self.records.column(index)

    def amended(self, rows_by_column: Mapping[str, Mapping[int, Any]]) -> dict[str, pa.Array]:
        """The batch's columns with new values at some rows: ``{column: {batch row: value}}`` -> ``{column: array}``
        (same type; a stage that amends earlier stages' columns returns these). Each named column must exist."""
        import pyarrow as pa

        out = {}
        for name, rows in rows_by_column.items():
            column = self.column(name)
            assert column is not None  # amendments exist only for columns the batch has
            values = column.to_pylist()
            for row, value in rows.items():
                values[row] = value
            out[name] = pa.array(values, type=column.type)
        return out

    def texts(self) -> list[str | None]:
        """The ``text`` column as Python strings (``None`` where absent or invalid)."""
        column = self.column("text")
        if column is None:
            return [None] * self.num_rows
        values: list[str | None] = column.to_pylist()
        return values

    def with_columns(self, columns: dict[str, pa.Array]) -> Batch:
        """A new batch with ``columns`` appended to the records."""
        records = self.records
        for name, values in columns.items():
            records = records.append_column(name, values)
        return Batch(records=records, images=self.images, artifacts=self.artifacts)

    def replacing(self, columns: dict[str, pa.Array]) -> Batch:
        """A new batch with existing ``columns`` replaced (same name, type and length)."""
        records = self.records
        for name, values in columns.items():
            index = records.schema.get_field_index(name)
            if index < 0 or values.type != records.schema.field(index).type or len(values) != records.num_rows:
                raise ValueError(f"cannot replace column {name!r}: it is missing, or the new values differ in type")
            records = records.set_column(index, records.schema.field(index), values)
        return Batch(records=records, images=self.images, artifacts=self.artifacts)


class ArtifactKind(StrEnum):
    """How a ``Batch.artifacts`` entry travels from a flow worker to the committer (see :mod:`datahygiene.io.spool`).

    A stage declares every artifact it leaves (:meth:`StageBase.artifacts`); the spool carries the first two kinds
    and refuses an undeclared or malformed artifact, so nothing a later stage needs is dropped in silence.
    """

    #: A numeric array with one entry per row (embeddings for semantic dedup).
    ROW_ARRAY = "row_array"
    #: ``{row: bytes}`` (replacement images, e.g. blurred faces, written for kept rows).
    ROW_BYTES = "row_bytes"
    #: A per-batch cache shared by scoring stages (parsed image metadata); never needed after scoring.
    BATCH_LOCAL = "batch_local"


class ColumnRole(StrEnum):
    """What a stage column means to the reports: the datasheet finds columns by role, not by name."""

    #: Faces found in the row's image (an integer count).
    FACE_COUNT = "face_count"
    #: The kind of duplicate a row is (``exact``, ``near``, ``semantic``; null when it is not one).
    DUPLICATE_KIND = "duplicate_kind"
    #: The id of the kept copy a duplicate row duplicates (null when it is not one).
    DUPLICATE_OF = "duplicate_of"
    #: The state of the row's C2PA manifest (``valid``, ``invalid``, ``unverifiable``; null without one).
    C2PA_STATE = "c2pa_state"


@dataclass(frozen=True)
class ChainSummary:
    """What a chain of stages adds and runs, without the stages: sent from workers to the committer."""

    fields: tuple[tuple[str, pa.Field], ...] = ()
    models: tuple[dict[str, Any], ...] = ()
    #: (artifact name, :class:`ArtifactKind` value) of every artifact the stages declare.
    artifacts: tuple[tuple[str, str], ...] = ()
    #: (column, :class:`ColumnRole` value) of every column the stages give a role.
    roles: tuple[tuple[str, str], ...] = ()


@dataclass
class ScoredBatch:
    """A batch after the order-free stages: records with their columns, reasons so far, decoded images."""

    records: pa.RecordBatch
    reasons: Reasons
    images: list[Image.Image | None] | None = None
    artifacts: dict[str, Any] = field(default_factory=dict)
    #: Time spent on this batch so far (read, decode, the order-free stages).
    times: StageTimes = field(default_factory=StageTimes)


ParamsT = TypeVar("ParamsT", bound=StageParams)


class StageBase(Generic[ParamsT]):
    """Optional base class: checks and keeps ``params`` (typed) and ``context``; describes no model.

    Concrete stages subclass ``StageBase[TheirParams]``, set ``Params = TheirParams`` (and ``version``
    when it is not "1") and implement ``output_schema`` and ``process``; ``name`` is set by ``@register``.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    Params: ClassVar[type[StageParams]] = StageParams
    #: Columns of this stage that the reports should find by role (column -> role).
    column_roles: ClassVar[Mapping[str, ColumnRole]] = {}
    #: False for a stage that cannot run in a Prefect flow (its work cannot travel from workers to the
    #: committer); the flow refuses such a config before any work starts.
    runs_in_flows: ClassVar[bool] = True
    #: Whether the stage reads full-resolution pixels from ``Batch.images``. When no stage of a run does,
    #: the runner validates images by a reduced-size decode and passes those (smaller, grey) pictures.
    needs_full_image: ClassVar[bool] = True

    @classmethod
    def full_images(cls, params: StageParams) -> bool:
        """Whether this stage, with these params, needs full-resolution pixels (``needs_full_image``)."""
        return cls.needs_full_image

    def __init__(self, params: StageParams, context: StageContext) -> None:
        if not isinstance(params, self.Params):
            raise TypeError(f"{type(self).__name__} needs {self.Params.__name__}, got {type(params).__name__}")
        self.params: ParamsT = cast(ParamsT, params)
        self.context = context

    def describe(self) -> dict[str, Any]:
        """No model: nothing beyond name and version to record."""
        return {"model": None}

    def artifacts(self) -> dict[str, ArtifactKind]:
        """The ``Batch.artifacts`` entries this stage leaves, by name (none unless a stage says otherwise)."""
        return {}


@runtime_checkable
class Stage(Protocol):
    """A registered scorer, tagger or dedup step.

    ``name`` is the registry name (``"toxicity.detoxify"``), ``version`` is
    bumped whenever the stage's output for the same input can change.
    ``process`` returns only the new columns, each with ``batch.num_rows``
    values, matching ``output_schema()``.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    Params: ClassVar[type[StageParams]]

    def output_schema(self) -> pa.Schema: ...

    def process(self, batch: Batch) -> dict[str, pa.Array]: ...

    def describe(self) -> dict[str, Any]:
        """What produced the columns: model name, weights file, sha256 ..."""
        ...


@runtime_checkable
class StatefulStage(Stage, Protocol):
    """A stage whose decisions depend on earlier rows (dedup, id checks).

    The runner saves the state with every shard commit and restores the last
    committed state on ``--resume``, so a resumed run decides exactly like an
    uninterrupted one. ``load_state`` on an empty directory means "start
    fresh" (used to roll back a shard that failed before any commit).
    ``save_state`` writes into a staging folder that the commit then moves;
    ``state_moved`` tells the stage where that snapshot now lives, so a stage
    that links earlier snapshots into the next one never holds a stale path.
    """

    def save_state(self, directory: Path) -> None: ...

    def state_moved(self, directory: Path) -> None: ...

    def load_state(self, directory: Path) -> None: ...

    def commit_run(self) -> None:
        """Called once after every shard committed: publish persistent indexes here."""
        ...


#: The methods that make a stage stateful (see :class:`StatefulStage`).
STATE_METHODS = ("save_state", "load_state", "state_moved", "commit_run")


@runtime_checkable
class LookaheadStage(Protocol):
    """An ordered stage that sees a whole shard before it decides any of its rows (dedup's ``keep`` rule).

    When ``looks_ahead()`` is true, the committer passes every scored batch of a shard to ``look`` (in input
    order, before any ``process``), calls ``decide`` once, then ``process`` on the same batches in the same
    order. A rolled-back shard is looked at again from its first batch (``load_state`` forgets the look).
    Such a stage must come first among the ordered stages (it sees the scored batches).
    """

    def looks_ahead(self) -> bool: ...

    def look(self, batch: Batch) -> None: ...

    def decide(self) -> None: ...


def tell_upstream(stage: object, columns: frozenset[str]) -> None:
    """Tell ``stage`` the columns the stages before it produce (``upstream_columns(columns)``, where defined).

    A stage that works on earlier stages' columns can then skip work they make moot (dedup does not look ahead
    to inherit signals no stage of the run produces).
    """
    declare = getattr(stage, "upstream_columns", None)
    if callable(declare):
        declare(columns)


def rows_between(rows_by_column: Mapping[str, Mapping[int, Any]], start: int, stop: int) -> dict[str, dict[int, Any]]:
    """The amended rows in ``[start, stop)`` of a shard's ``{column: {row: value}}``, numbered from ``start``;
    columns with none there are left out."""
    inside = {
        column: {row - start: value for row, value in rows.items() if start <= row < stop}
        for column, rows in rows_by_column.items()
    }
    return {column: rows for column, rows in inside.items() if rows}


def amended_columns(stage: object) -> tuple[str, ...]:
    """The columns of earlier stages that ``stage`` declares it amends (``amends()``; none by default)."""
    declare = getattr(stage, "amends", None)
    return tuple(declare()) if callable(declare) else ()


def is_stateful_class(cls: type[Any]) -> bool:
    """Whether a stage class implements :class:`StatefulStage` (the one test used for classes and instances)."""
    return all(callable(getattr(cls, method, None)) for method in STATE_METHODS)
