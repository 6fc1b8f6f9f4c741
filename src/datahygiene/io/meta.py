"""Rights and provenance metadata of an encoded image, read without decoding pixels.

One reader for every stage that looks at embedded metadata (``rights.copyright``,
``provenance.synthetic``):

* EXIF: ``Artist``, ``Copyright``, ``Software``, ``ImageDescription``, ``UserComment``,
  ``Make``, ``Model``, ``XPAuthor``, ``XPComment``;
* XMP: every simple or array property in the rights, creator and provenance namespaces
  (``dc:rights``, ``dc:creator``, ``xmpRights:*``, ``plus:*``, ``Iptc4xmpExt:DigitalSourceType``,
  ``photoshop:Credit``, ``xmp:CreatorTool``, ``stEvt:softwareAgent`` ...);
* IPTC IIM (JPEG Photoshop APP13 / TIFF tag 33723): copyright notice, by-line, credit, source ...;
* PNG text chunks (``tEXt``, ``zTXt``, ``iTXt``: ``parameters``, ``prompt``, ``Software`` ...);
  walked directly so the image data chunks are skipped, not inflated; JPEG and GIF comments;
* C2PA manifests through c2pa-python (only when the bytes hold a JUMBF/C2PA marker), with the
  ``c2pa.training-mining`` / ``cawg.training-mining`` entries, ``c2pa.actions`` digital source
  types and software agents, the claim generators, the signer and the validation result. Remote manifests
  (an XMP ``dcterms:provenance`` URL) are recorded, never fetched; OCSP is never queried. An embedded store
  that cannot be read is reported as such (``C2paInfo.read_error``), not as "no manifest".

:func:`read_metadata` never raises on bad input: what could not be parsed is listed in
``ImageMetadata.errors`` and the rest is still returned. :func:`batch_metadata` reads a
batch's image column once and caches the result in ``Batch.artifacts`` for later stages.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

import pyarrow.compute as pc
from PIL import Image

from datahygiene.core.stage import Batch

#: ``Batch.artifacts`` key under which :func:`batch_metadata` caches ``(with_c2pa, rows)``.
ARTIFACT_KEY = "image_metadata"

#: Upper bounds for untrusted payloads (bytes).
MAX_XMP_BYTES = 1 << 20
MAX_TEXT_BYTES = 1 << 20
MAX_PNG_CHUNKS = 10_000

EXIF_TAGS: dict[int, str] = {
    0x010E: "ImageDescription",
    0x010F: "Make",
    0x0110: "Model",
    0x0131: "Software",
    0x013B: "Artist",
    0x8298: "Copyright",
    0x9C9C: "XPComment",
    0x9C9D: "XPAuthor",
}
_EXIF_IFD = 0x8769
_EXIF_SUB_TAGS: dict[int, str] = {0x9286: "UserComment"}

IPTC_DATASETS: dict[tuple[int, int], str] = {
    (2, 5): "ObjectName",
    (2, 40): "SpecialInstructions",
    (2, 80): "By-line",
    (2, 85): "By-lineTitle",
    (2, 105): "Headline",
    (2, 110): "Credit",
    (2, 115): "Source",
    (2, 116): "CopyrightNotice",
    (2, 120): "Caption-Abstract",
    (2, 122): "Writer-Editor",
}

XMP_NAMESPACES: dict[str, str] = {
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/xap/1.0/rights/": "xmpRights",
    "http://ns.useplus.org/ldf/xmp/1.0/": "plus",
    "http://iptc.org/std/Iptc4xmpExt/2008-02-29/": "Iptc4xmpExt",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#": "stEvt",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://cipa.jp/exif/1.0/": "exifEX",
    "http://purl.org/dc/terms/": "dcterms",
    "http://www.w3.org/ns/tdmrep/": "tdm",
}
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XMP_SKIP = {"xmpMM:DocumentID", "xmpMM:InstanceID", "xmpMM:OriginalDocumentID", "stEvt:instanceID"}

_TRAINING_MINING = re.compile(r"^(?:c2pa|cawg)\.training-mining(?:\.v\d+)?$")
_ACTIONS = re.compile(r"^c2pa\.actions(?:\.v\d+)?$")
_USE_RANK = {"allowed": 0, "constrained": 1, "notAllowed": 2}

_MIME = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "GIF": "image/gif",
    "AVIF": "image/avif",
    "HEIF": "image/heif",
}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class C2paInfo:
    """What a C2PA manifest store says about training consent and origin.

    ``training_mining`` maps each entry (``c2pa.ai_training``, ``cawg.ai_generative_training`` ...)
    to its strictest ``use`` over all manifests in the store (``notAllowed`` > ``constrained`` >
    ``allowed``); ``constraints`` keeps each constrained entry's ``constraint_info``.
    """

    active_manifest: str | None = None
    assertion_labels: tuple[str, ...] = ()
    training_mining: dict[str, str] = field(default_factory=dict)
    constraints: dict[str, str] = field(default_factory=dict)
    digital_source_types: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    software_agents: tuple[str, ...] = ()
    claim_generators: tuple[str, ...] = ()
    validation_state: str | None = None
    signature_issuer: str | None = None
    #: The signing certificate's common name (the active manifest's signer).
    signer: str | None = None
    #: Validation failure codes of the active manifest (``assertion.dataHash.mismatch`` ...).
    validation_failures: tuple[str, ...] = ()
    #: Where the manifest lives when the image only points at one (XMP ``dcterms:provenance``); never fetched.
    remote_url: str | None = None
    #: Why an embedded manifest store could not be read (it is then neither valid nor trusted).
    read_error: str | None = None


@dataclass(frozen=True)
class ImageMetadata:
    """Everything :func:`read_metadata` found in one image; empty containers where nothing was."""

    format: str | None = None
    exif: dict[str, str] = field(default_factory=dict)
    xmp: dict[str, list[str]] = field(default_factory=dict)
    iptc: dict[str, list[str]] = field(default_factory=dict)
    png_text: dict[str, str] = field(default_factory=dict)
    #: JPEG ``COM`` segment or GIF comment extension.
    comment: str | None = None
    c2pa: C2paInfo | None = None
    errors: list[str] = field(default_factory=list)

    def fields(self) -> Iterator[tuple[str, str]]:
        """Every textual value as ``(source:field, value)``: ``exif:Copyright``, ``xmp:dc:rights``,
        ``iptc:CopyrightNotice``, ``png:parameters``, ``comment``."""
        for key, value in self.exif.items():
            yield f"exif:{key}", value
        for key, values in self.xmp.items():
            for value in values:
                yield f"xmp:{key}", value
        for key, values in self.iptc.items():
            for value in values:
                yield f"iptc:{key}", value
        for key, value in self.png_text.items():
            yield f"png:{key}", value
        if self.comment:
            yield "comment", self.comment

    @property
    def empty(self) -> bool:
        """True when no metadata of any kind was found."""
        return not (self.exif or self.xmp or self.iptc or self.png_text or self.comment or self.c2pa)


def _clean(value: str) -> str:
    return value.replace("\x00", "").strip()


def _decode_text(raw: bytes) -> str:
    for encoding in ("utf-8", "latin-1"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")  # pragma: no cover - latin-1 always decodes


def _utf16_plausibility(text: str) -> tuple[int, int]:
    bad = sum(1 for ch in text if not ch.isprintable() and ch not in "\n\r\t")
    ascii_chars = sum(1 for ch in text if ch < "\x80")
    return -bad, ascii_chars


def _user_comment(raw: bytes, big_endian: bool) -> str:
    """EXIF UserComment: an 8-byte character-code prefix, then the text."""
    code, body = raw[:8], raw[8:]
    if code.startswith(b"UNICODE"):
        # Writers disagree on the byte order (piexif, used by A1111, writes UTF-16 in its own order
        # whatever the TIFF header says), so decode both ways and keep the more plausible text:
        # fewer control/unassigned characters, then more ASCII; ties go to the header's order.
        order = ("utf-16-be", "utf-16-le") if big_endian else ("utf-16-le", "utf-16-be")
        candidates = [body.decode(encoding, "replace") for encoding in order]
        return max(candidates, key=_utf16_plausibility)
    if code.startswith((b"ASCII", b"\x00" * 8, b"JIS")):
        return _decode_text(body)
    return _decode_text(raw)


def _exif_value(tag: int, value: Any, big_endian: bool) -> str | None:
    if tag in (0x9C9C, 0x9C9D):  # Windows XP tags: UTF-16LE bytes (Pillow gives bytes or a tuple of ints)
        raw = bytes(value) if isinstance(value, tuple | list) else value
        return _clean(raw.decode("utf-16-le", "replace")) if isinstance(raw, bytes) else None
    if tag == 0x9286 and isinstance(value, bytes):
        return _clean(_user_comment(value, big_endian))
    if isinstance(value, bytes):
        return _clean(_decode_text(value))
    if isinstance(value, str):
        return _clean(value)
    return None


def parse_exif(raw: bytes | Image.Exif) -> dict[str, str]:
    """The rights-relevant EXIF tags of a raw EXIF block (``Exif\\0\\0`` prefix optional)."""
    if isinstance(raw, Image.Exif):
        exif = raw
    else:
        exif = Image.Exif()
        exif.load(raw[6:] if raw.startswith(b"Exif\x00\x00") else raw)
    big_endian = getattr(exif, "endian", "<") == ">"
    found: dict[str, str] = {}
    for tag, name in EXIF_TAGS.items():
        if tag in exif:
            text = _exif_value(tag, exif[tag], big_endian)
            if text:
                found[name] = text
    sub = exif.get_ifd(_EXIF_IFD)
    for tag, name in _EXIF_SUB_TAGS.items():
        if tag in sub:
            text = _exif_value(tag, sub[tag], big_endian)
            if text:
                found[name] = text
    return found


def _qname(tag: str) -> str | None:
    if not tag.startswith("{"):
        return None
    uri, _, local = tag[1:].partition("}")
    prefix = XMP_NAMESPACES.get(uri)
    return None if prefix is None else f"{prefix}:{local}"


def _walk_xmp(element: ElementTree.Element, prop: str | None, out: dict[str, list[str]]) -> None:
    name = _qname(element.tag)
    if name is not None:
        prop = name
    for attr, value in element.attrib.items():
        attr_name = _qname(attr)
        if attr_name is not None and value.strip() and attr_name not in _XMP_SKIP:
            out.setdefault(attr_name, []).append(value.strip())
        elif attr == f"{{{_RDF}}}resource" and prop is not None and value.strip():
            out.setdefault(prop, []).append(value.strip())
    text = (element.text or "").strip()
    if text and prop is not None and prop not in _XMP_SKIP:
        values = out.setdefault(prop, [])
        if text not in values:
            values.append(text)
    for child in element:
        _walk_xmp(child, prop, out)


def parse_xmp(packet: bytes | str) -> dict[str, list[str]]:
    """Properties of an XMP packet in the known namespaces, ``prefix:Name -> values``.

    Packets with a DOCTYPE (entity expansion) or over :data:`MAX_XMP_BYTES` are refused.
    """
    data = packet.encode("utf-8") if isinstance(packet, str) else packet
    if len(data) > MAX_XMP_BYTES:
        raise ValueError(f"XMP packet of {len(data)} bytes is over the {MAX_XMP_BYTES} limit")
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        start = data.find(b"<rdf:RDF")
    if start < 0:
        raise ValueError("no x:xmpmeta or rdf:RDF element")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError("XMP packet declares a DOCTYPE or entities")
    end_tag = b"</x:xmpmeta>" if data[start:].startswith(b"<x:xmpmeta") else b"</rdf:RDF>"
    end = data.find(end_tag, start)
    if end < 0:
        raise ValueError("XMP packet is not closed")
    root = ElementTree.fromstring(data[start : end + len(end_tag)])
    out: dict[str, list[str]] = {}
    _walk_xmp(root, None, out)
    return out


def parse_iptc(raw: bytes) -> dict[str, list[str]]:
    """IPTC IIM datasets (``0x1C record dataset length value``) of the known names."""
    out: dict[str, list[str]] = {}
    pos = 0
    while pos + 5 <= len(raw):
        if raw[pos] != 0x1C:
            pos += 1  # padding between records
            continue
        record, dataset = raw[pos + 1], raw[pos + 2]
        (length,) = struct.unpack(">H", raw[pos + 3 : pos + 5])
        pos += 5
        if length & 0x8000:  # extended dataset: the next (length & 0x7FFF) bytes hold the length
            size = length & 0x7FFF
            if size > 4 or pos + size > len(raw):
                raise ValueError("IPTC extended length out of range")
            length = int.from_bytes(raw[pos : pos + size], "big")
            pos += size
        if pos + length > len(raw):
            raise ValueError("IPTC dataset runs past the block")
        name = IPTC_DATASETS.get((record, dataset))
        if name is not None:
            text = _clean(_decode_text(raw[pos : pos + length]))
            if text:
                out.setdefault(name, []).append(text)
        pos += length
    return out


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    text = inflater.decompress(data, MAX_TEXT_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError(f"compressed text chunk inflates past {MAX_TEXT_BYTES} bytes")
    return text


def parse_png_chunks(data: bytes) -> tuple[dict[str, str], bytes | None, list[str]]:
    """Text chunks, the raw ``eXIf`` block and errors of a PNG, skipping image data unread."""
    texts: dict[str, str] = {}
    exif: bytes | None = None
    errors: list[str] = []
    pos = len(_PNG_SIGNATURE)
    for _ in range(MAX_PNG_CHUNKS):
        if pos + 8 > len(data):
            break
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if len(body) < length:
            errors.append(f"png: chunk {kind!r} truncated")
            break
        try:
            if kind == b"tEXt":
                key, _, value = body.partition(b"\x00")
                texts[key.decode("latin-1")] = _clean(value.decode("latin-1"))
            elif kind == b"zTXt":
                key, _, rest = body.partition(b"\x00")
                texts[key.decode("latin-1")] = _clean(_inflate(rest[1:]).decode("latin-1"))
            elif kind == b"iTXt":
                key, _, rest = body.partition(b"\x00")
                compressed, rest = rest[0], rest[2:]
                _language, _, rest = rest.partition(b"\x00")
                _translated, _, value = rest.partition(b"\x00")
                raw = _inflate(value) if compressed else value
                texts[key.decode("latin-1")] = _clean(raw.decode("utf-8", "replace"))
            elif kind == b"eXIf":
                exif = body
            elif kind == b"IEND":
                break
        except (ValueError, IndexError, zlib.error) as error:
            errors.append(f"png: {kind.decode('latin-1', 'replace')}: {error}")
    return texts, exif, errors


def _merge_use(target: dict[str, str], entry: str, use: str) -> None:
    current = target.get(entry)
    if current is None or _USE_RANK.get(use, 0) > _USE_RANK.get(current, 0):
        target[entry] = use


def _agent_name(agent: Any) -> str | None:
    if isinstance(agent, str):
        return agent
    if isinstance(agent, dict) and isinstance(agent.get("name"), str):
        version = agent.get("version")
        return f"{agent['name']} {version}" if isinstance(version, str) else str(agent["name"])
    return None


def _append_new(bucket: list[str], value: object) -> None:
    """Append ``value`` when it is a string not yet in ``bucket`` (first-seen order, no repeats)."""
    if isinstance(value, str) and value and value not in bucket:
        bucket.append(value)


@dataclass
class _C2paCollector:
    """Walks the manifests of a C2PA store and gathers what the stages use, in first-seen order."""

    labels: list[str] = field(default_factory=list)
    mining: dict[str, str] = field(default_factory=dict)
    constraints: dict[str, str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    generators: list[str] = field(default_factory=list)
    issuer: str | None = None
    signer: str | None = None

    def add_manifest(self, manifest: dict[str, Any], *, active: bool) -> None:
        """One manifest: its signer (the active one's), claim generators and assertions."""
        signature = manifest.get("signature_info")
        if active and isinstance(signature, dict):
            if isinstance(signature.get("issuer"), str):
                self.issuer = signature["issuer"]
            if isinstance(signature.get("common_name"), str):
                self.signer = signature["common_name"]
        for info in manifest.get("claim_generator_info") or []:
            _append_new(self.generators, _agent_name(info))
        _append_new(self.generators, manifest.get("claim_generator"))
        for assertion in manifest.get("assertions") or []:
            if isinstance(assertion, dict) and isinstance(assertion.get("label"), str):
                data = assertion.get("data")
                self.add_assertion(assertion["label"], data if isinstance(data, dict) else {})

    def add_assertion(self, label: str, data: dict[str, Any]) -> None:
        """One assertion: its label, and training-mining or actions content."""
        _append_new(self.labels, label)
        if _TRAINING_MINING.match(label):
            self._training_mining(data)
        elif _ACTIONS.match(label):
            self._actions(data)

    def _training_mining(self, data: dict[str, Any]) -> None:
        entries = data.get("entries")
        for entry, value in entries.items() if isinstance(entries, dict) else []:
            if isinstance(value, dict) and isinstance(value.get("use"), str):
                _merge_use(self.mining, entry, value["use"])
                if isinstance(value.get("constraint_info"), str):
                    self.constraints[entry] = value["constraint_info"]

    def _actions(self, data: dict[str, Any]) -> None:
        for action in data.get("actions") or []:
            if isinstance(action, dict):
                _append_new(self.actions, action.get("action"))
                _append_new(self.sources, action.get("digitalSourceType"))
                _append_new(self.agents, _agent_name(action.get("softwareAgent")))


def summarise_c2pa(store: dict[str, Any], validation_state: str | None = None) -> C2paInfo:
    """Reduce a C2PA manifest store (the Reader's JSON) to the fields the stages use."""
    collector = _C2paCollector()
    manifests = store.get("manifests")
    active = store.get("active_manifest")
    for label, manifest in manifests.items() if isinstance(manifests, dict) else []:
        if isinstance(manifest, dict):
            collector.add_manifest(manifest, active=label == active)
    return C2paInfo(
        active_manifest=active if isinstance(active, str) else None,
        assertion_labels=tuple(collector.labels),
        training_mining=collector.mining,
        constraints=collector.constraints,
        digital_source_types=tuple(collector.sources),
        actions=tuple(collector.actions),
        software_agents=tuple(collector.agents),
        claim_generators=tuple(collector.generators),
        validation_state=validation_state,
        signature_issuer=collector.issuer,
        signer=collector.signer,
        validation_failures=_failure_codes(store),
    )


def _failure_codes(store: dict[str, Any]) -> tuple[str, ...]:
    """The active manifest's validation failure codes (``validation_results``, else ``validation_status``)."""
    results = store.get("validation_results")
    active = results.get("activeManifest") if isinstance(results, dict) else None
    failures = active.get("failure") if isinstance(active, dict) else store.get("validation_status")
    codes: list[str] = []
    for failure in failures if isinstance(failures, list) else []:
        if isinstance(failure, dict):
            _append_new(codes, failure.get("code"))
    return tuple(codes)


_c2pa_context: tuple[int, Any] | None = None


def _c2pa_reader_context() -> Any:
    """A c2pa Context that never touches the network (no remote manifests, no OCSP); one per process."""
    global _c2pa_context
    if _c2pa_context is None or _c2pa_context[0] != os.getpid():
        import c2pa

        settings = c2pa.Settings.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})
        _c2pa_context = (os.getpid(), c2pa.Context(settings))
    return _c2pa_context[1]


def might_hold_c2pa(data: bytes) -> bool:
    """Cheap pre-check: C2PA stores are JUMBF boxes labelled ``c2pa``."""
    return b"jumb" in data and b"c2pa" in data


def read_c2pa(data: bytes, mime: str | None) -> tuple[C2paInfo | None, str | None]:
    """The manifest store of ``data`` (None when there is none) and the error, if reading failed."""
    if not might_hold_c2pa(data):
        return None, None
    try:
        import c2pa

        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, _c2pa_reader_context())
        if reader is None:
            return None, None
        with reader:
            store = json.loads(reader.json())
            state = reader.get_validation_state()
        return summarise_c2pa(store, state if isinstance(state, str) else None), None
    except Exception as error:  # noqa: BLE001 - a broken manifest is a property of the input
        message = f"c2pa: {type(error).__name__}: {error}"[:500]
        if mime is None or "NotSupported" in type(error).__name__:
            return None, message  # not an image format the SDK reads: no store was found to judge
        return C2paInfo(read_error=message), message


def _from_info(info: dict[Any, Any], fmt: str | None, exif: Image.Exif | None, errors: list[str]) -> dict[str, Any]:
    """EXIF, XMP, IPTC and text from a Pillow ``info`` dict (header-only open or decoded image)."""
    found: dict[str, Any] = {"exif": {}, "xmp": {}, "iptc": {}, "png_text": {}}
    try:
        if exif is not None and len(exif):
            found["exif"] = parse_exif(exif)
        elif isinstance(info.get("exif"), bytes):
            found["exif"] = parse_exif(info["exif"])
    except Exception as error:  # noqa: BLE001
        errors.append(f"exif: {type(error).__name__}: {error}"[:500])
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if exif is not None and not xmp:
        xmp = exif.get(700)  # TIFF XMP tag
    if isinstance(xmp, bytes | str) and xmp:
        try:
            found["xmp"] = parse_xmp(xmp)
        except Exception as error:  # noqa: BLE001
            errors.append(f"xmp: {type(error).__name__}: {error}"[:500])
    photoshop = info.get("photoshop")
    iptc = photoshop.get(0x0404) if isinstance(photoshop, dict) else None
    if iptc is None and exif is not None:
        iptc = exif.get(33723)  # TIFF IPTC tag
    if isinstance(iptc, bytes | tuple) and iptc:
        try:
            found["iptc"] = parse_iptc(bytes(iptc))
        except Exception as error:  # noqa: BLE001
            errors.append(f"iptc: {type(error).__name__}: {error}"[:500])
    if fmt != "PNG":  # PNG text comes from the chunk walk (bytes) or below (decoded image)
        return found
    for key, value in info.items():
        if isinstance(key, str) and isinstance(value, str) and key not in ("xmp", "XML:com.adobe.xmp"):
            found["png_text"][key] = _clean(value)
    return found


def read_metadata(data: bytes | None = None, image: Image.Image | None = None, *, c2pa: bool = True) -> ImageMetadata:
    """Metadata of an encoded image (preferred) or of an already opened/decoded PIL image.

    From bytes only the headers are parsed (no pixel decoding); C2PA needs the bytes. Never
    raises: failures are listed in ``errors`` (Pillow's corrupt-EXIF warnings are silenced).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _read_metadata(data, image, c2pa=c2pa)


def _read_metadata(data: bytes | None, image: Image.Image | None, *, c2pa: bool) -> ImageMetadata:
    errors: list[str] = []
    fmt: str | None = image.format if image is not None else None
    info: dict[Any, Any] = dict(image.info) if image is not None else {}
    exif: Image.Exif | None = None
    png_text: dict[str, str] = {}
    if data is not None:
        try:
            with Image.open(io.BytesIO(data)) as opened:
                fmt = opened.format
                info = dict(opened.info)
                if fmt != "PNG":
                    exif = opened.getexif()
        except Exception as error:  # noqa: BLE001 - garbage in: note it, read what we can below
            errors.append(f"open: {type(error).__name__}: {error}"[:500])
        if data.startswith(_PNG_SIGNATURE):
            fmt = fmt or "PNG"
            png_text, png_exif, png_errors = parse_png_chunks(data)
            errors.extend(png_errors)
            if png_exif is not None:
                info["exif"] = png_exif
            xmp_text = png_text.pop("XML:com.adobe.xmp", None)
            if xmp_text:
                info["xmp"] = xmp_text
            info = {k: v for k, v in info.items() if not isinstance(v, str) or k == "xmp"}
    elif image is not None:
        try:
            exif = image.getexif() if fmt != "PNG" else None
        except Exception as error:  # noqa: BLE001
            errors.append(f"exif: {type(error).__name__}: {error}"[:500])
    found = _from_info(info, fmt, exif, errors)
    found["png_text"].update(png_text)
    comment = info.get("comment")
    if isinstance(comment, bytes):
        comment = _decode_text(comment[:MAX_TEXT_BYTES])
    comment = _clean(comment) if isinstance(comment, str) else None
    manifest: C2paInfo | None = None
    if c2pa and data is not None:
        manifest, c2pa_error = read_c2pa(data, _MIME.get(fmt or ""))
        if c2pa_error is not None:
            errors.append(c2pa_error)
    remote = found["xmp"].get("dcterms:provenance")
    if c2pa and manifest is None and remote:
        manifest = C2paInfo(remote_url=remote[0])  # a manifest stored elsewhere: offline, it is not fetched
    return ImageMetadata(
        format=fmt,
        exif=found["exif"],
        xmp=found["xmp"],
        iptc=found["iptc"],
        png_text=found["png_text"],
        comment=comment or None,
        c2pa=manifest,
        errors=errors,
    )


def batch_metadata(batch: Batch, *, c2pa: bool = True) -> list[ImageMetadata | None]:
    """Metadata of every row's image bytes (None where the row has no image), cached per batch."""
    cached = batch.artifacts.get(ARTIFACT_KEY)
    if isinstance(cached, tuple) and (cached[0] or not c2pa) and len(cached[1]) == batch.num_rows:
        rows: list[ImageMetadata | None] = cached[1]
        return rows
    column = batch.column("image")
    payloads: list[bytes | None] = [None] * batch.num_rows
    if column is not None and batch.num_rows:
        payloads = pc.struct_field(column, "bytes").to_pylist()
    result: list[ImageMetadata | None] = [read_metadata(data, c2pa=c2pa) if data else None for data in payloads]
    batch.artifacts[ARTIFACT_KEY] = (c2pa, result)
    return result
