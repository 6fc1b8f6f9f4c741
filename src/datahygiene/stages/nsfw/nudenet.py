"""``nsfw.nudenet``: NudeNet's bundled ONNX detector as an offline NSFW image scorer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from datahygiene.core.registry import register
from datahygiene.core.stage import Batch, StageBase, StageContext, StageParams
from datahygiene.stages.weights import describe_packaged, sha256_file

log = logging.getLogger(__name__)

EXPLICIT = (
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_EXPOSED",
    "BUTTOCKS_EXPOSED",
)


class NudeNetParams(StageParams):
    """Which detector classes count as NSFW and the score a detection needs to be listed."""

    explicit_classes: list[str] = Field(default_factory=lambda: list(EXPLICIT))
    label_threshold: float = 0.4


@register("nsfw.nudenet")
class NudeNetStage(StageBase[NudeNetParams]):
    """``nsfw`` = highest explicit-class detection score (0 when none); ``nsfw_labels`` = classes above threshold."""

    Params: ClassVar[type[StageParams]] = NudeNetParams

    def __init__(self, params: StageParams, context: StageContext) -> None:
        super().__init__(params, context)
        import nudenet
        from nudenet import NudeDetector

        self.weights = Path(nudenet.__file__).parent / "320n.onnx"
        self.detector = NudeDetector()
        self.sha256 = sha256_file(self.weights)
        log.info("nsfw: using NudeNet detector %s", self.weights)

    def output_schema(self) -> pa.Schema:
        """``nsfw`` float32 and ``nsfw_labels`` list<string>."""
        return pa.schema([("nsfw", pa.float32()), ("nsfw_labels", pa.list_(pa.string()))])

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """Detect on every decoded image; null score and null labels where there is no image."""
        images = batch.images or [None] * batch.num_rows
        scores: list[float | None] = []
        labels: list[list[str] | None] = []
        explicit = set(self.params.explicit_classes)
        for image in images:  # NudeNet's detector takes one image per call
            if image is None:
                scores.append(None)
                labels.append(None)
                continue
            detections = self.detector.detect(np.asarray(image.convert("RGBA")))
            hits = [d for d in detections if d["class"] in explicit]
            scores.append(max((float(d["score"]) for d in hits), default=0.0))
            found = {d["class"] for d in hits if d["score"] >= self.params.label_threshold}
            labels.append(sorted(found))
        return {"nsfw": pa.array(scores, pa.float32()), "nsfw_labels": pa.array(labels, pa.list_(pa.string()))}

    def describe(self) -> dict[str, Any]:
        """Bundled model file and its sha256."""
        return describe_packaged(
            self.name, self.version, "nudenet", "nudenet-320n", weights=str(self.weights), sha256=self.sha256
        )
