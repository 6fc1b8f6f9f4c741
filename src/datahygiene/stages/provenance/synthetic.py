"""``provenance.synthetic``: tag AI-generated samples from the marks they carry.

Adds ``synthetic_signals`` (``list<string>``, empty when nothing was found)
and ``synthetic_evidence`` (``list<string>``, one human-readable line per
finding). The signals:

==========================  ===============================================================
``c2pa``                    a C2PA manifest declares an AI ``digitalSourceType``
                            (``trainedAlgorithmicMedia``, ``compositeWithTrainedAlgorithmicMedia``)
``c2pa_generator``          a C2PA claim generator or action ``softwareAgent`` names a known generator
``digital_source_type``     XMP ``Iptc4xmpExt:DigitalSourceType`` says AI (written by some hosted generators)
``watermark``               a known invisible DWT-DCT watermark decodes (Stable Diffusion 1/2, SDXL)
``generation_parameters``   generator settings are embedded: an A1111 ``parameters`` block (PNG text
                            or EXIF UserComment), ComfyUI ``prompt``/``workflow`` JSON, InvokeAI or
                            NovelAI metadata
``generator_software``      EXIF/PNG ``Software``, XMP ``CreatorTool``/``softwareAgent`` or PNG
                            ``Source`` names a known generator
``metadata_disclosure``     a disclosure phrase in the image's description, caption or credit metadata
``caption``                 a disclosure phrase in the row's text (``AI-generated``, ``#aiart`` ...)
==========================  ===============================================================

Nothing here is a classifier: a stripped, re-encoded or never-marked
generated image carries none of these and is not tagged. The stage only adds
columns; the policy decides (keep and tag by default, or a rule on
``synthetic_signals not_empty`` to reject or quarantine).
"""

from __future__ import annotations

import json
import math
import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import Field, model_validator

from datahygiene.core.registry import register
from datahygiene.core.stage import ArtifactKind, Batch, StageBase, StageContext, StageParams
from datahygiene.io.meta import ARTIFACT_KEY as METADATA_ARTIFACT
from datahygiene.io.meta import ImageMetadata, batch_metadata
from datahygiene.stages.provenance.phrases import DEFAULT_GENERATORS, DEFAULT_PHRASES, PhraseMatcher, expand
from datahygiene.stages.provenance.watermark import CHANNEL_ORDERS, ChannelOrder, Match, Payload, WatermarkReader

SIGNALS_COLUMN = "synthetic_signals"
EVIDENCE_COLUMN = "synthetic_evidence"

#: Every signal, in the order they are listed in a row.
SIGNALS: tuple[str, ...] = (
    "c2pa",
    "c2pa_generator",
    "digital_source_type",
    "watermark",
    "generation_parameters",
    "generator_software",
    "metadata_disclosure",
    "caption",
)

#: IPTC digital source types that mean "made by a generative model".
AI_SOURCE_TYPES: tuple[str, ...] = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia")

_SDXL_BITS = format(0b101100111110110010010000011110111011000110011110, "b")

#: A1111-style generation blocks: ``Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: ...``.
_A1111 = re.compile(r"(?:^|[\n,]\s*)(Steps|Sampler|CFG scale|Seed|Model hash|Negative prompt)\s*:", re.IGNORECASE)
#: PNG text keys that InvokeAI / NovelAI / Fooocus / others write only for generated images.
_GENERATOR_KEYS = ("invokeai_metadata", "invokeai_graph", "sd-metadata", "dream", "fooocus_scheme", "generation_data")
_GENERATION_JSON_KEYS = frozenset({"steps", "sampler", "seed", "cfg_scale", "scale", "sampler_name", "uc", "prompt"})
#: Metadata fields whose value names the producing software.
_SOFTWARE_FIELDS = (
    "exif:Software",
    "png:Software",
    "png:Source",
    "xmp:xmp:CreatorTool",
    "xmp:stEvt:softwareAgent",
    "exif:Make",
    "exif:Model",
)
#: Free-text description and credit fields searched for disclosure phrases.
_DESCRIPTION_FIELDS = (
    "exif:ImageDescription",
    "exif:XPComment",
    "xmp:dc:description",
    "xmp:dc:title",
    "xmp:photoshop:Credit",
    "xmp:photoshop:Headline",
    "iptc:Caption-Abstract",
    "iptc:Credit",
    "iptc:Headline",
    "png:Description",
    "png:Title",
    "png:Comment",
)
_EVIDENCE_CHARS = 160


class PayloadSpec(StageParams):
    """A watermark message to look for: UTF-8 ``text`` (``set_watermark('bytes', ...)``) or ``bits``."""

    name: str
    text: str | None = None
    bits: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> PayloadSpec:
        if (self.text is None) == (self.bits is None):
            raise ValueError("give exactly one of 'text' or 'bits'")
        return self

    def payload(self) -> Payload:
        if self.text is not None:
            return Payload.from_text(self.name, self.text)
        assert self.bits is not None
        return Payload.from_bit_string(self.name, self.bits)


#: Marks embedded by the reference generation code: CompVis txt2img (SD 1.x), Stability's
#: stablediffusion scripts (SD 2.x), Stability generative-models and diffusers (SDXL).
DEFAULT_PAYLOADS: tuple[PayloadSpec, ...] = (
    PayloadSpec(name="stable-diffusion-v1", text="StableDiffusionV1"),
    PayloadSpec(name="stable-diffusion-v2", text="SDV2"),
    PayloadSpec(name="stable-diffusion-xl", bits=_SDXL_BITS),
)


class SyntheticParams(StageParams):
    """Which marks to look for. Every list may be replaced in the config."""

    c2pa: bool = True
    ai_source_types: list[str] = Field(default_factory=lambda: list(AI_SOURCE_TYPES))
    metadata: bool = True
    generators: list[str] = Field(default_factory=lambda: list(DEFAULT_GENERATORS))
    watermark: bool = True
    watermark_payloads: list[PayloadSpec] = Field(default_factory=lambda: list(DEFAULT_PAYLOADS))
    #: Chance that an unmarked image (random bits) passes for one payload; sets each payload's
    #: bit-error tolerance (a longer payload tolerates more errors at the same chance).
    watermark_false_match: float = Field(default=1e-6, gt=0.0, lt=0.5)
    watermark_channel_orders: list[ChannelOrder] = Field(default_factory=lambda: list(CHANNEL_ORDERS))
    #: Larger images are not decoded: generators write at most ~2048x2048, and a resized image lost the mark.
    watermark_max_pixels: int = Field(default=2048 * 2048, gt=0)
    watermark_decoder: Literal["fast", "imwatermark"] = "fast"
    #: Also read chroma-subsampled JPEGs with the decoder's chroma upsampling undone (fast decoder only).
    watermark_jpeg_chroma: bool = True
    caption_phrases: list[str] = Field(default_factory=lambda: list(DEFAULT_PHRASES))
    text_columns: list[str] = Field(default_factory=lambda: ["text"])


def tolerated_errors(bits: int, false_match: float) -> int:
    """Most bit errors allowed so that P(Binomial(bits, 1/2) <= errors) stays at or below ``false_match``."""
    budget = false_match * 2**bits
    total = 0
    for errors in range(bits + 1):
        total += math.comb(bits, errors)
        if total > budget:
            return errors - 1
    return bits  # pragma: no cover - false_match < 0.5 stops the loop before


def _short(value: str) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= _EVIDENCE_CHARS else flat[: _EVIDENCE_CHARS - 1] + "\u2026"


def _source_type_name(value: str) -> str:
    return value.rstrip("/").rsplit("/", 1)[-1]


class _Findings:
    """Signals and evidence of one row, in the order found, without repeats."""

    def __init__(self) -> None:
        self.signals: list[str] = []
        self.evidence: list[str] = []

    def add(self, signal: str, evidence: str) -> None:
        if signal not in self.signals:
            self.signals.append(signal)
            self.signals.sort(key=SIGNALS.index)
        line = f"{signal}: {evidence}"
        if line not in self.evidence:
            self.evidence.append(line)


@register("provenance.synthetic")
class SyntheticStage(StageBase[SyntheticParams]):
    """Tags rows whose image or caption carries a mark of AI generation."""

    Params: ClassVar[type[StageParams]] = SyntheticParams

    @classmethod
    def full_images(cls, params: StageParams) -> bool:
        """Only the watermark decoder reads pixels (at full resolution); the other signals read bytes and text."""
        return bool(getattr(params, "watermark", True))

    def __init__(self, params: StageParams, context: StageContext) -> None:
        super().__init__(params, context)
        self.generators = PhraseMatcher(list(self.params.generators))
        self.phrases = PhraseMatcher(expand(self.params.caption_phrases, self.params.generators))
        self.ai_source_types = {_source_type_name(value) for value in self.params.ai_source_types}
        payloads = [spec.payload() for spec in self.params.watermark_payloads]
        self.tolerance = {p.name: tolerated_errors(len(p.bits), self.params.watermark_false_match) for p in payloads}
        self.watermarks = WatermarkReader(
            payloads,
            self.tolerance,
            channel_orders=tuple(self.params.watermark_channel_orders),
            max_pixels=self.params.watermark_max_pixels,
            decoder=self.params.watermark_decoder,
            jpeg_chroma=self.params.watermark_jpeg_chroma,
        )

    def output_schema(self) -> pa.Schema:
        """Two ``list<string>`` columns."""
        return pa.schema([(SIGNALS_COLUMN, pa.list_(pa.string())), (EVIDENCE_COLUMN, pa.list_(pa.string()))])

    # -- per source ---------------------------------------------------------------------------

    def _c2pa(self, meta: ImageMetadata, found: _Findings) -> None:
        info = meta.c2pa
        if info is None:
            return
        state = f", validation {info.validation_state}" if info.validation_state else ""
        for source in info.digital_source_types:
            if _source_type_name(source) in self.ai_source_types:
                found.add("c2pa", f"digitalSourceType {_source_type_name(source)}{state}")
        for claim in (*info.claim_generators, *info.software_agents):
            match = self.generators.first(claim)
            if match is not None:
                found.add("c2pa_generator", f"{_short(claim)!r} names {match!r}{state}")

    def _generation_parameters(self, key: str, value: str) -> bool:
        """Whether a metadata field holds a generator's settings."""
        source, _, name = key.partition(":")
        lowered = name.lower()
        if len({marker.lower() for marker in _A1111.findall(value)}) >= 2:
            return True  # any field: A1111 writes PNG ``parameters`` and JPEG/WebP EXIF UserComment
        if source != "png":
            return False
        if lowered in _GENERATOR_KEYS:
            return True
        if lowered not in ("prompt", "workflow", "parameters", "comment"):
            return False
        try:
            data = json.loads(value)
        except ValueError:
            return False
        if not isinstance(data, dict):
            return False
        if lowered == "workflow":
            return isinstance(data.get("nodes"), list)
        if lowered == "prompt" and any(isinstance(node, dict) and "class_type" in node for node in data.values()):
            return True  # ComfyUI's API graph
        return len(_GENERATION_JSON_KEYS & {str(k).lower() for k in data}) >= 2

    def _metadata(self, meta: ImageMetadata, found: _Findings) -> None:
        for source in meta.xmp.get("Iptc4xmpExt:DigitalSourceType", []):
            if _source_type_name(source) in self.ai_source_types:
                found.add("digital_source_type", f"XMP Iptc4xmpExt:DigitalSourceType {_source_type_name(source)}")
        for key, value in meta.fields():
            if self._generation_parameters(key, value):
                found.add("generation_parameters", f"{key} {_short(value)!r}")
            if key in _SOFTWARE_FIELDS:
                match = self.generators.first(value)
                if match is not None:
                    found.add("generator_software", f"{key} {_short(value)!r}")
            if key in _DESCRIPTION_FIELDS:
                match = self.phrases.first(value)
                if match is not None:
                    found.add("metadata_disclosure", f"{key} says {match!r}")

    def _watermark(self, matches: list[Match], found: _Findings) -> None:
        for match in matches:
            restored = ", JPEG chroma restored" if match.jpeg_chroma else ""
            found.add(
                "watermark",
                f"{match.payload} ({match.bit_errors}/{match.bits} bits differ, "
                f"tolerance {self.tolerance[match.payload]}, {match.channel_order.upper()} order{restored})",
            )

    # -- the stage ----------------------------------------------------------------------------

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """Look at every row's image metadata, decoded image and text columns."""
        rows = [_Findings() for _ in range(batch.num_rows)]
        params = self.params
        if params.c2pa or params.metadata:
            for found, meta in zip(rows, batch_metadata(batch, c2pa=params.c2pa), strict=True):
                if meta is None:
                    continue
                if params.c2pa:
                    self._c2pa(meta, found)
                if params.metadata:
                    self._metadata(meta, found)
        if params.watermark and batch.images is not None:
            for found, image in zip(rows, batch.images, strict=True):
                if image is not None:
                    self._watermark(self.watermarks.find(image), found)
        for name in params.text_columns:
            column = batch.column(name)
            if column is None or not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                continue
            for found, text in zip(rows, column.to_pylist(), strict=True):
                for phrase in self.phrases.find(text) if text else []:
                    found.add("caption", f"{name} says {phrase!r}")
        return {
            SIGNALS_COLUMN: pa.array([f.signals for f in rows], pa.list_(pa.string())),
            EVIDENCE_COLUMN: pa.array([f.evidence for f in rows], pa.list_(pa.string())),
        }

    def artifacts(self) -> dict[str, ArtifactKind]:
        """The parsed image metadata, cached for the other metadata stages of the batch (never spooled)."""
        return {METADATA_ARTIFACT: ArtifactKind.BATCH_LOCAL}

    def describe(self) -> dict[str, Any]:
        """No model: the payloads with their tolerances, list sizes and the decoder."""
        try:
            watermark_package = version("invisible-watermark")
        except PackageNotFoundError:
            watermark_package = None
        return {
            "name": self.name,
            "version": self.version,
            "model": None,
            "watermark_payloads": {name: f"<= {errors} bit errors" for name, errors in self.tolerance.items()},
            "watermark_decoder": self.params.watermark_decoder,
            "invisible_watermark": watermark_package,
            "generators": len(self.params.generators),
            "caption_phrases": len(self.phrases.phrases),
        }
