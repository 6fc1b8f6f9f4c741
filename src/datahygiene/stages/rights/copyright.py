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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from datahygiene.core import columns as C
from datahygiene.core.registry import register
from datahygiene.core.stage import ArtifactKind, Batch, StageBase, StageContext, StageParams
from datahygiene.io.meta import ARTIFACT_KEY as METADATA_ARTIFACT
from datahygiene.io.meta import ImageMetadata, batch_metadata
from datahygiene.stages.rights.licenses import LicenseParser
from datahygiene.stages.rights.lists import DoNotTrain, PhraseMatcher, domain_match, gather, url_host
from datahygiene.stages.rights.optout import (
    TRAINING_ENTRIES,
    Finding,
    c2pa_findings,
    parse_headers,
    plus_findings,
    robots_findings,
    tdm_header_findings,
    tdmrep_policy_findings,
)

EVIDENCE_TYPE = pa.struct([("signal", pa.string()), ("source", pa.string()), ("value", pa.string())])
UNAVAILABLE = "unavailable"
#: The host of a URL (scheme optional), as RE2 for ``pc.extract_regex``.
_HOST = r"^\s*(?:[A-Za-z][A-Za-z0-9+.\-]*://|//)?(?:[^@/?#\s]*@)?(?P<host>[^:/?#\s]+)"
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


def _columns(n: int, found: dict[int, list[Finding]]) -> dict[str, pa.Array]:
    """The two output columns, built from flat value lists and offsets (rows without findings are empty)."""
    signal_offsets = np.zeros(n + 1, dtype=np.int32)
    evidence_offsets = np.zeros(n + 1, dtype=np.int32)
    signals: list[str] = []
    fields: tuple[list[str], list[str], list[str]] = ([], [], [])
    for row in sorted(found):
        items = list(dict.fromkeys(found[row]))
        distinct = sorted({f.signal for f in items if f.signal != UNAVAILABLE})
        signals.extend(distinct)
        signal_offsets[row + 1] = len(distinct)
        evidence_offsets[row + 1] = len(items)
        for item in items:
            fields[0].append(item.signal)
            fields[1].append(item.source)
            fields[2].append(item.value)
    structs = pa.StructArray.from_arrays([pa.array(f, pa.string()) for f in fields], fields=list(EVIDENCE_TYPE))
    return {
        "copyright_signals": pa.ListArray.from_arrays(
            pa.array(np.cumsum(signal_offsets, dtype=np.int32)), pa.array(signals, pa.string())
        ),
        "copyright_evidence": pa.ListArray.from_arrays(pa.array(np.cumsum(evidence_offsets, dtype=np.int32)), structs),
    }


@register("rights.copyright")
class CopyrightStage(StageBase[CopyrightParams]):
    """Tags copyright risk and missing training consent; see the module docstring for every signal."""

    needs_full_image: ClassVar[bool] = False  # reads text (and image bytes), never pixels

    Params: ClassVar[type[StageParams]] = CopyrightParams

    def __init__(self, params: StageParams, context: StageContext) -> None:
        super().__init__(params, context)
        self.notices = PhraseMatcher(line for _, line in gather(self.params.notice_lists, self.params.notice_files))
        self.agencies = PhraseMatcher(line for _, line in gather(self.params.agency_lists, self.params.agency_files))
        domains = gather(self.params.stock_domain_lists, self.params.stock_domain_files)
        self.stock_domains = {line.lower().strip(".") for _, line in domains}
        self.licenses = LicenseParser(self.params.license_files)
        entries = gather([], self.params.do_not_train_files)
        entries.extend(("config", line) for line in self.params.do_not_train)
        self.do_not_train = DoNotTrain.from_entries(entries)
        self.watermark_seen: bool | None = None
        self._hosts: dict[str, list[Finding]] = {}

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
        """``stock_source`` and ``opt_out:do_not_train`` for one URL (the batch path does the same, vectorised)."""
        host = url_host(url)
        found = list(self._host_findings(host)) if host else []
        hit = self.do_not_train.match_listed_url(url)
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
            elif source in DESCRIPTION_FIELDS or png_key in _PNG_DESCRIPTION or source == "comment":
                found.extend(self.text_findings(value, source))
            elif source == "xmp:plus:DataMining":
                found.extend(plus_findings([value]))
            elif source == "xmp:tdm:reservation" and value.strip() == "1":
                found.append(Finding("opt_out:tdmrep", source, value))
        if meta.c2pa is not None:
            found.extend(c2pa_findings(meta.c2pa, self.params.c2pa_entries))
        return found

    # -- batch -------------------------------------------------------------------------------

    def _lookup(self, batch: Batch, names: list[str]) -> dict[int, list[tuple[str, Any]]]:
        """Rows with a value in a named column, else under that key of the JSONL ``metadata`` JSON."""
        rows: dict[int, list[tuple[str, Any]]] = {}
        missing: list[str] = []
        for name in names:
            column = batch.column(name)
            if column is None:
                missing.append(name)
                continue
            valid = np.flatnonzero(np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_))
            for row, value in zip(valid.tolist(), column.take(pa.array(valid)).to_pylist(), strict=True):
                rows.setdefault(row, []).append((name, value))
        metadata = batch.column("metadata")
        if not missing or metadata is None or not pa.types.is_string(metadata.type):
            return rows
        mask = np.zeros(batch.num_rows, dtype=np.bool_)
        for name in missing:
            hits = pc.fill_null(pc.match_substring(metadata, f'"{name}"'), False)
            mask |= np.asarray(hits.to_numpy(zero_copy_only=False), dtype=np.bool_)
        candidates = np.flatnonzero(mask)
        for row, text in zip(candidates.tolist(), metadata.take(pa.array(candidates)).to_pylist(), strict=True):
            try:
                parsed = json.loads(text)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                found = [(name, parsed[name]) for name in missing if parsed.get(name) is not None]
                if found:
                    rows.setdefault(row, []).extend(found)
        return rows

    def _text_rows(self, batch: Batch, found: dict[int, list[Finding]]) -> None:
        for name in self.params.text_columns:
            column = batch.column(name)
            if column is None or not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                continue
            notices, agencies = self.notices.candidates(column), self.agencies.candidates(column)
            rows = np.flatnonzero(notices | agencies)
            for row, text in zip(rows.tolist(), column.take(pa.array(rows)).to_pylist(), strict=True):
                hits: list[Finding] = []
                if notices[row]:
                    hits.extend(Finding("notice", name, _clip(hit)) for hit in self.notices.find(text, extend=60))
                if agencies[row]:
                    hits.extend(Finding("agency_credit", name, _clip(hit)) for hit in self.agencies.find(text))
                if hits:
                    found.setdefault(row, []).extend(hits)

    def _license_rows(self, batch: Batch, found: dict[int, list[Finding]]) -> None:
        column = batch.column(self.params.license_column)
        if column is None:
            return
        cache: dict[str, list[Finding]] = {}
        for row, value in enumerate(column.to_pylist()):
            if not isinstance(value, str):
                continue
            hits = cache.get(value)
            if hits is None:
                hits = cache[value] = self.license_findings(value)
            if hits:
                found.setdefault(row, []).extend(hits)

    def _url_rows(self, batch: Batch, found: dict[int, list[Finding]]) -> None:
        column = batch.column(self.params.url_column)
        if column is not None and pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        if column is None or not pa.types.is_string(column.type) or column.null_count == len(column):
            return
        hosts = pc.utf8_lower(pc.struct_field(pc.extract_regex(column, _HOST), "host"))
        distinct = pc.unique(hosts)
        per_host: list[list[Finding]] = []
        for host in distinct.to_pylist():
            per_host.append(self._host_findings(host.rstrip(".")) if host else [])
        if any(per_host):
            index = pc.fill_null(pc.index_in(hosts, value_set=distinct), -1).to_numpy(zero_copy_only=False)
            for row in np.flatnonzero(index >= 0).tolist():
                hits = per_host[index[row]]
                if hits:
                    found.setdefault(row, []).extend(hits)
        if self.do_not_train.urls or self.do_not_train.prefixes:
            for row, url in enumerate(column.to_pylist()):
                hit = self.do_not_train.match_listed_url(url) if isinstance(url, str) else None
                if hit is not None:
                    found.setdefault(row, []).append(Finding("opt_out:do_not_train", f"do_not_train:{hit[1]}", hit[0]))

    def _host_findings(self, host: str) -> list[Finding]:
        cached = self._hosts.get(host)
        if cached is not None:
            return cached
        hits: list[Finding] = []
        domain = domain_match(host, self.stock_domains)
        if domain is not None:
            hits.append(Finding("stock_source", "url", f"{host} (listed: {domain})"))
        hit = self.do_not_train.match_domain(host)
        if hit is not None:
            hits.append(Finding("opt_out:do_not_train", f"do_not_train:{hit[1]}", hit[0]))
        if len(self._hosts) < 1_000_000:
            self._hosts[host] = hits
        return hits

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """Every check on every row; empty lists where nothing triggered."""
        n = batch.num_rows
        p = self.params
        found: dict[int, list[Finding]] = {}
        self._text_rows(batch, found)
        self._license_rows(batch, found)
        self._url_rows(batch, found)
        image_column = batch.column(C.IMAGE)
        payloads: list[bytes | None] = [None] * n
        if image_column is not None and image_column.null_count < n:
            payloads = pc.struct_field(image_column, "bytes").to_pylist()
        has_image = [bool(data) for data in payloads]
        urls = batch.column(p.url_column)
        url_values = urls.to_pylist() if urls is not None else [None] * n
        headers = self._lookup(batch, p.header_columns)
        robots = self._lookup(batch, p.robots_columns)
        tdmrep = self._lookup(batch, p.tdmrep_columns)
        for row in sorted(set(headers) | set(robots) | set(tdmrep)):
            hits = self._consent_findings(
                headers.get(row, []), robots.get(row, []), tdmrep.get(row, []), url_values[row], has_image[row]
            )
            if hits:
                found.setdefault(row, []).extend(hits)
        if self.do_not_train.hashes:
            self._hash_rows(batch, payloads, found)
        if any(has_image):
            self._image_rows(batch, has_image, found)
        return _columns(n, found)

    def _hash_rows(self, batch: Batch, payloads: list[bytes | None], found: dict[int, list[Finding]]) -> None:
        texts = batch.column(self.params.text_columns[0]) if self.params.text_columns else None
        text_values = texts.to_pylist() if texts is not None else [None] * batch.num_rows
        for row, (data, text) in enumerate(zip(payloads, text_values, strict=True)):
            content = data if data else (text.encode("utf-8") if isinstance(text, str) else None)
            hit = self.do_not_train.match_content(content) if content is not None else None
            if hit is not None:
                found.setdefault(row, []).append(Finding("opt_out:do_not_train", f"do_not_train:{hit[1]}", hit[0]))

    def _image_rows(self, batch: Batch, has_image: list[bool], found: dict[int, list[Finding]]) -> None:
        p = self.params
        metas = batch_metadata(batch, c2pa=p.c2pa) if p.image_metadata else [None] * batch.num_rows
        marks_column = batch.column(p.watermark_column)
        self.watermark_seen = marks_column is not None
        marks = marks_column.to_pylist() if marks_column is not None else [None] * batch.num_rows
        for row, present in enumerate(has_image):
            if not present:
                continue
            meta = metas[row]
            hits = self.metadata_findings(meta) if meta is not None else []
            hits.extend(self._watermark_finding(marks_column is not None, marks[row]))
            if hits:
                found.setdefault(row, []).extend(hits)

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

    def artifacts(self) -> dict[str, ArtifactKind]:
        """The parsed image metadata, cached for the other metadata stages of the batch (never spooled)."""
        return {METADATA_ARTIFACT: ArtifactKind.BATCH_LOCAL}

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
