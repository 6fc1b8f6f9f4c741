"""``rights.copyright``: copyright-risk and training-consent signals with the evidence for each.

Adds ``copyright_signals`` (``list<string>``, sorted, distinct) and ``copyright_evidence``
(``list<struct<signal, source, value>>``: one entry per trigger). Signals:

``notice``                     a copyright / rights notice in the text or an image description
``agency_credit``              a stock agency or wire service named in the text or a metadata credit
``rights_metadata``            an EXIF / XMP / IPTC / PNG rights field that is not an open licence
``creator_metadata``           a named creator (EXIF Artist, dc:creator, IPTC By-line, credit line)
``license:nc`` ``license:nd``  the licence (column or metadata) forbids commercial use / derivatives
``license:proprietary``        the licence column is a rights claim ("all rights reserved", "royalty-free")
``license:unknown``            the licence column holds a value that names no known licence
``stock_source``               the URL's domain is on the stock / rights-holder list
``opt_out:do_not_train``       the URL, its domain or the content's sha256 is on a do-not-train list
``opt_out:robots``             stored ``X-Robots-Tag`` has ``noai`` (or ``noimageai`` on an image row)
``opt_out:tdmrep``             TDMRep ``tdm-reservation: 1`` (header, policy column or XMP)
``opt_out:c2pa``               C2PA / CAWG ``training-mining`` entry with ``use: notAllowed``
``opt_out:plus``               XMP ``plus:DataMining`` prohibits AI training / data mining
``training_constrained:c2pa``  C2PA training-mining ``use: constrained`` (terms in the evidence)
``training_constrained:plus``  ``plus:DataMining`` prohibited unless the stated constraint is met
``visible_watermark``          the ``watermark`` score of an earlier stage is at or over the threshold

An evidence entry with signal ``unavailable`` records a check that could not run for the row
(the watermark score without an OpenCLIP stage); it raises no signal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from datahygiene import columns as C
from datahygiene.meta import ImageMetadata, batch_metadata
from datahygiene.registry import register
from datahygiene.rights.licenses import LicenseParser
from datahygiene.rights.lists import DoNotTrain, PhraseMatcher, domain_match, gather, url_host
from datahygiene.rights.optout import (
    TRAINING_ENTRIES,
    Finding,
    c2pa_findings,
    parse_headers,
    plus_findings,
    robots_findings,
    tdm_header_findings,
    tdmrep_policy_findings,
)
from datahygiene.stage import Batch, StageContext, StageParams

EVIDENCE_TYPE = pa.struct([("signal", pa.string()), ("source", pa.string()), ("value", pa.string())])
UNAVAILABLE = "unavailable"
_MAX_VALUE = 300

#: Metadata fields, by role (``source:field`` as :meth:`ImageMetadata.fields` names them).
RIGHTS_FIELDS = frozenset(
    {
        "exif:Copyright",
        "xmp:dc:rights",
        "xmp:xmpRights:UsageTerms",
        "xmp:xmpRights:WebStatement",
        "xmp:xmpRights:Owner",
        "xmp:xmpRights:Certificate",
        "xmp:photoshop:Copyright",
        "iptc:CopyrightNotice",
    }
)
CREATOR_FIELDS = frozenset(
    {"exif:Artist", "exif:XPAuthor", "xmp:dc:creator", "iptc:By-line", "xmp:plus:ImageCreatorName"}
)
CREDIT_FIELDS = frozenset({"xmp:photoshop:Credit", "xmp:photoshop:Source", "iptc:Credit", "iptc:Source"})
DESCRIPTION_FIELDS = frozenset(
    {
        "exif:ImageDescription",
        "exif:UserComment",
        "exif:XPComment",
        "xmp:dc:description",
        "xmp:dc:title",
        "iptc:Caption-Abstract",
        "iptc:Headline",
        "iptc:SpecialInstructions",
    }
)
_PNG_RIGHTS = frozenset({"copyright", "license", "licence", "rights", "disclaimer"})
_PNG_CREATOR = frozenset({"author", "artist", "creator"})
_PNG_DESCRIPTION = frozenset({"description", "comment", "title"})


class CopyrightParams(StageParams):
    """Which columns to read, the lists to match and the thresholds; every list is extendable by files."""

    text_columns: list[str] = Field(default_factory=lambda: [C.TEXT])
    license_column: str = C.LICENSE
    url_column: str = C.URL
    #: Columns (or JSONL ``metadata`` keys) holding stored HTTP response headers.
    header_columns: list[str] = Field(default_factory=lambda: ["headers", "http_headers", "response_headers"])
    #: Columns (or ``metadata`` keys) holding a bare ``X-Robots-Tag`` value.
    robots_columns: list[str] = Field(default_factory=lambda: ["x_robots_tag", "robots"])
    #: Columns (or ``metadata`` keys) holding a stored TDMRep policy (``tdmrep.json`` content).
    tdmrep_columns: list[str] = Field(default_factory=lambda: ["tdmrep", "tdm_policy"])
    notice_lists: list[str] = Field(default_factory=lambda: ["notices"])
    notice_files: list[Path] = Field(default_factory=list)
    agency_lists: list[str] = Field(default_factory=lambda: ["agencies"])
    agency_files: list[Path] = Field(default_factory=list)
    stock_domain_lists: list[str] = Field(default_factory=lambda: ["stock_domains"])
    stock_domain_files: list[Path] = Field(default_factory=list)
    license_files: list[Path] = Field(default_factory=list)
    do_not_train_files: list[Path] = Field(default_factory=list)
    do_not_train: list[str] = Field(default_factory=list)
    #: Read embedded image metadata (EXIF, XMP, IPTC, PNG text) and C2PA manifests.
    image_metadata: bool = True
    c2pa: bool = True
    c2pa_entries: list[str] = Field(default_factory=lambda: list(TRAINING_ENTRIES))
    watermark_column: str = "watermark"
    watermark_threshold: float = Field(default=0.5, ge=0.0, le=1.0)


def _clip(value: str) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= _MAX_VALUE else flat[: _MAX_VALUE - 1] + "…"


@register("rights.copyright")
class CopyrightStage:
    """Tags copyright risk and missing training consent; see the module docstring for every signal."""

    name: ClassVar[str] = "rights.copyright"
    version: ClassVar[str] = "1"
    Params: ClassVar[type[StageParams]] = CopyrightParams

    def __init__(self, params: StageParams, context: StageContext) -> None:
        assert isinstance(params, CopyrightParams)
        self.params = params
        self.context = context
        self.notices = PhraseMatcher(line for _, line in gather(params.notice_lists, params.notice_files))
        self.agencies = PhraseMatcher(line for _, line in gather(params.agency_lists, params.agency_files))
        domains = gather(params.stock_domain_lists, params.stock_domain_files)
        self.stock_domains = {line.lower().strip(".") for _, line in domains}
        self.licenses = LicenseParser(params.license_files)
        entries = gather([], params.do_not_train_files)
        entries.extend(("config", line) for line in params.do_not_train)
        self.do_not_train = DoNotTrain.from_entries(entries)
        self.watermark_seen: bool | None = None

    def output_schema(self) -> pa.Schema:
        """``copyright_signals`` and ``copyright_evidence``."""
        return pa.schema(
            [("copyright_signals", pa.list_(pa.string())), ("copyright_evidence", pa.list_(EVIDENCE_TYPE))]
        )

    # -- per-source checks -------------------------------------------------------------------

    def text_findings(self, text: str, source: str) -> list[Finding]:
        """Notices and agency credits in free text."""
        found = [Finding("notice", source, _clip(hit)) for hit in self.notices.find(text, extend=60)]
        found.extend(Finding("agency_credit", source, _clip(hit)) for hit in self.agencies.find(text))
        return found

    def license_findings(self, value: str) -> list[Finding]:
        """``license:<flag>`` for every restrictive flag of the licence column's value."""
        parsed = self.licenses.parse(value)
        if parsed is None:
            return []
        return [Finding(f"license:{flag}", "license", f"{_clip(value)} -> {parsed.id}") for flag in parsed.restrictive]

    def url_findings(self, url: str) -> list[Finding]:
        """``stock_source`` and ``opt_out:do_not_train`` from the row's URL."""
        found: list[Finding] = []
        host = url_host(url)
        if host is not None and self.stock_domains:
            domain = domain_match(host, self.stock_domains)
            if domain is not None:
                found.append(Finding("stock_source", "url", f"{host} (listed: {domain})"))
        hit = self.do_not_train.match_url(url)
        if hit is not None:
            found.append(Finding("opt_out:do_not_train", f"do_not_train:{hit[1]}", _clip(hit[0])))
        return found

    def _rights_value(self, source: str, value: str) -> list[Finding]:
        parsed = self.licenses.parse(value)
        found = self.text_findings(value, source) if source != "xmp:xmpRights:WebStatement" else []
        found = [f for f in found if f.signal == "agency_credit"]
        if parsed is not None and parsed.recognised:
            found.extend(
                Finding(f"license:{flag}", source, f"{_clip(value)} -> {parsed.id}") for flag in parsed.restrictive
            )
            return found
        found.append(Finding("rights_metadata", source, _clip(value)))
        return found

    def metadata_findings(self, meta: ImageMetadata) -> list[Finding]:
        """Rights, creator, credit and description fields; XMP data-mining and TDM properties; C2PA."""
        found: list[Finding] = []
        for source, value in meta.fields():
            png_key = source[4:].lower() if source.startswith("png:") else None
            if source in RIGHTS_FIELDS or png_key in _PNG_RIGHTS or source.startswith("xmp:plus:Licensor"):
                found.extend(self._rights_value(source, value))
            elif source == "xmp:xmpRights:Marked":
                if value.strip().lower() == "true":
                    found.append(Finding("rights_metadata", source, value))
            elif source.startswith("xmp:plus:CopyrightOwner"):
                found.append(Finding("rights_metadata", source, _clip(value)))
            elif source in CREATOR_FIELDS or png_key in _PNG_CREATOR:
                found.append(Finding("creator_metadata", source, _clip(value)))
            elif source in CREDIT_FIELDS:
                agencies = [Finding("agency_credit", source, _clip(hit)) for hit in self.agencies.find(value)]
                found.extend(agencies or [Finding("creator_metadata", source, _clip(value))])
            elif source in DESCRIPTION_FIELDS or png_key in _PNG_DESCRIPTION:
                found.extend(self.text_findings(value, source))
            elif source == "xmp:plus:DataMining":
                found.extend(plus_findings([value]))
            elif source == "xmp:tdm:reservation" and value.strip() == "1":
                found.append(Finding("opt_out:tdmrep", source, value))
        if meta.c2pa is not None:
            found.extend(c2pa_findings(meta.c2pa, self.params.c2pa_entries))
        return found

    # -- batch -------------------------------------------------------------------------------

    def _lookup(self, batch: Batch, names: list[str]) -> list[list[tuple[str, Any]]]:
        """Per row, ``(name, value)`` of each named column, else of the JSONL ``metadata`` key."""
        rows: list[list[tuple[str, Any]]] = [[] for _ in range(batch.num_rows)]
        missing: list[str] = []
        for name in names:
            column = batch.column(name)
            if column is None:
                missing.append(name)
                continue
            for row, value in enumerate(column.to_pylist()):
                if value is not None:
                    rows[row].append((name, value))
        metadata = batch.column("metadata")
        if missing and metadata is not None and pa.types.is_string(metadata.type):
            for row, text in enumerate(metadata.to_pylist()):
                if not text or not any(f'"{name}"' in text for name in missing):
                    continue
                try:
                    parsed = json.loads(text)
                except ValueError:
                    continue
                if isinstance(parsed, dict):
                    rows[row].extend((name, parsed[name]) for name in missing if parsed.get(name) is not None)
        return rows

    def _strings(self, batch: Batch, name: str) -> list[Any]:
        column = batch.column(name)
        return column.to_pylist() if column is not None else [None] * batch.num_rows

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """Every check on every row; empty lists where nothing triggered."""
        n = batch.num_rows
        p = self.params
        texts = [self._strings(batch, name) for name in p.text_columns]
        licenses = self._strings(batch, p.license_column)
        urls = self._strings(batch, p.url_column)
        headers = self._lookup(batch, p.header_columns)
        robots = self._lookup(batch, p.robots_columns)
        tdmrep = self._lookup(batch, p.tdmrep_columns)
        image_column = batch.column(C.IMAGE)
        has_image = [False] * n
        payloads: list[bytes | None] = [None] * n
        if image_column is not None and image_column.null_count < n:
            payloads = pc.struct_field(image_column, "bytes").to_pylist()
            has_image = [bool(data) for data in payloads]
        metas: list[ImageMetadata | None] = [None] * n
        if p.image_metadata and any(has_image):
            metas = batch_metadata(batch, c2pa=p.c2pa)
        marks_column = batch.column(p.watermark_column)
        self.watermark_seen = marks_column is not None if any(has_image) else self.watermark_seen
        marks = marks_column.to_pylist() if marks_column is not None else [None] * n
        signals: list[list[str]] = []
        evidence: list[list[dict[str, str]]] = []
        for row in range(n):
            found: list[Finding] = []
            for name, values in zip(p.text_columns, texts, strict=True):
                if isinstance(values[row], str):
                    found.extend(self.text_findings(values[row], name))
            if isinstance(licenses[row], str):
                found.extend(self.license_findings(licenses[row]))
            if isinstance(urls[row], str):
                found.extend(self.url_findings(urls[row]))
            found.extend(self._consent_findings(headers[row], robots[row], tdmrep[row], urls[row], has_image[row]))
            if not self.do_not_train.empty:
                content = payloads[row] if has_image[row] else None
                text = texts[0][row] if texts else None
                if content is None and isinstance(text, str):
                    content = text.encode("utf-8")
                hit = self.do_not_train.match_content(content) if content is not None else None
                if hit is not None:
                    found.append(Finding("opt_out:do_not_train", f"do_not_train:{hit[1]}", hit[0]))
            meta = metas[row]
            if meta is not None:
                found.extend(self.metadata_findings(meta))
            if has_image[row]:
                found.extend(self._watermark_finding(marks_column is not None, marks[row]))
            signals.append(sorted({f.signal for f in found if f.signal != UNAVAILABLE}))
            evidence.append([f._asdict() for f in dict.fromkeys(found)])
        return {
            "copyright_signals": pa.array(signals, pa.list_(pa.string())),
            "copyright_evidence": pa.array(evidence, pa.list_(EVIDENCE_TYPE)),
        }

    def _consent_findings(
        self,
        headers: list[tuple[str, Any]],
        robots: list[tuple[str, Any]],
        tdmrep: list[tuple[str, Any]],
        url: Any,
        has_image: bool,
    ) -> list[Finding]:
        found: list[Finding] = []
        for name, value in headers:
            parsed = parse_headers(value)
            found.extend(robots_findings(parsed.get("x-robots-tag", []), f"{name}:X-Robots-Tag", has_image=has_image))
            found.extend(tdm_header_findings(parsed))
        for name, value in robots:
            values = value if isinstance(value, list) else [value]
            found.extend(robots_findings([str(v) for v in values], name, has_image=has_image))
        for name, value in tdmrep:
            found.extend(tdmrep_policy_findings(value, url if isinstance(url, str) else None, name))
        return found

    def _watermark_finding(self, available: bool, score: Any) -> list[Finding]:
        column = self.params.watermark_column
        if not available:
            why = f"no {column!r} column: add nsfw.openclip (with CLIP weights) before this stage"
            return [Finding(UNAVAILABLE, column, why)]
        if isinstance(score, float) and score >= self.params.watermark_threshold:
            return [Finding("visible_watermark", column, f"{score:.3f} >= {self.params.watermark_threshold}")]
        return []

    def describe(self) -> dict[str, Any]:
        """List sizes, licence table size, do-not-train entries and the watermark check's state."""
        dnt = self.do_not_train
        if self.watermark_seen is None:
            watermark = f"uses column {self.params.watermark_column!r} from an earlier stage when present"
        elif self.watermark_seen:
            watermark = f"column {self.params.watermark_column!r} present"
        else:
            watermark = f"unavailable: no {self.params.watermark_column!r} column (nsfw.openclip without weights?)"
        return {
            "name": self.name,
            "version": self.version,
            "model": None,
            "lists": {
                "notice_patterns": self.notices.count,
                "agencies": self.agencies.count,
                "stock_domains": len(self.stock_domains),
                "license_table": len(self.licenses.entries),
                "do_not_train": {
                    "domains": len(dnt.domains),
                    "urls": len(dnt.urls) + len(dnt.prefixes),
                    "hashes": len(dnt.hashes),
                },
            },
            "c2pa": self.params.c2pa,
            "watermark": {"threshold": self.params.watermark_threshold, "status": watermark},
        }
