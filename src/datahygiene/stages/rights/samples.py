"""Sample images carrying rights metadata, built in code: EXIF, XMP, IPTC, PNG text and a C2PA manifest
signed offline with a throwaway certificate. Used by the tests, the benchmarks and anyone checking a
metadata-reading stage; nothing here touches the network."""

from __future__ import annotations

import datetime
import io
import struct
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo


def _image(size: tuple[int, int] = (48, 32), colour: str = "teal") -> Image.Image:
    return Image.new("RGB", size, colour)


def exif_jpeg(artist: str | None = None, copyright_: str | None = None, **extra: Any) -> bytes:
    """A JPEG whose EXIF holds ``Artist``, ``Copyright`` and optionally Software / UserComment."""
    exif = Image.Exif()
    if artist is not None:
        exif[0x013B] = artist
    if copyright_ is not None:
        exif[0x8298] = copyright_
    if "software" in extra:
        exif[0x0131] = extra["software"]
    if "user_comment" in extra:
        exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + str(extra["user_comment"]).encode("utf-16-le")
    buffer = io.BytesIO()
    _image().save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def xmp_packet(**properties: str) -> bytes:
    """An XMP packet; keys like ``dc_rights`` become ``dc:rights`` (language alternatives for dc:rights)."""
    body: list[str] = []
    attributes: list[str] = []
    for key, value in properties.items():
        name = key.replace("_", ":", 1)
        if name in ("dc:rights", "dc:description"):
            body.append(f'<{name}><rdf:Alt><rdf:li xml:lang="x-default">{value}</rdf:li></rdf:Alt></{name}>')
        elif name == "dc:creator":
            body.append(f"<{name}><rdf:Seq><rdf:li>{value}</rdf:li></rdf:Seq></{name}>")
        else:
            attributes.append(f'{name}="{value}"')
    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/"'
        ' xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/"'
        ' xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        + " ".join(attributes)
        + ">"
        + "".join(body)
        + '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def xmp_jpeg(packet: bytes) -> bytes:
    """A JPEG carrying ``packet`` in its APP1 XMP segment."""
    buffer = io.BytesIO()
    _image().save(buffer, "JPEG", xmp=packet)
    return buffer.getvalue()


def iptc_jpeg(datasets: dict[tuple[int, int], str], image: Image.Image | None = None) -> bytes:
    """A JPEG (of ``image``, else a small flat one) with an APP13 Photoshop segment holding IPTC IIM datasets."""
    iim = b"".join(
        b"\x1c" + bytes([record, number]) + struct.pack(">H", len(value.encode())) + value.encode()
        for (record, number), value in datasets.items()
    )
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim)) + iim
    if len(iim) % 2:
        resource += b"\x00"
    payload = b"Photoshop 3.0\x00" + resource
    segment = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    buffer = io.BytesIO()
    (image or _image()).save(buffer, "JPEG")
    data = buffer.getvalue()
    return data[:2] + segment + data[2:]


def png_text(
    texts: dict[str, str], compressed: dict[str, str] | None = None, itxt: dict[str, str] | None = None
) -> bytes:
    """A PNG with tEXt (``texts``), zTXt (``compressed``) and iTXt (``itxt``) chunks."""
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    for key, value in (compressed or {}).items():
        info.add_text(key, value, zip=True)
    for key, value in (itxt or {}).items():
        info.add_itxt(key, value, lang="en", zip=True)
    buffer = io.BytesIO()
    _image().save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def _test_signer() -> Any:
    """A c2pa Signer from a throwaway CA and ES256 leaf certificate made with ``cryptography``."""
    import c2pa
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    usage = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )

    def certificate(subject: x509.Name, key: Any, issuer: x509.Name, signer: Any, serial: int, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(**{**usage, "key_cert_sign": True, "crl_sign": True}), critical=True
            )
        else:
            builder = (
                builder.add_extension(x509.KeyUsage(**{**usage, "digital_signature": True}), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "datahygiene test CA")])
    ca = certificate(ca_name, ca_key, ca_name, ca_key, 1, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "datahygiene test signer"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "datahygiene tests"),
        ]
    )
    leaf = certificate(leaf_name, key, ca_name, ca_key, 2, ca=False)
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, private, None))


def c2pa_jpeg(
    training: dict[str, str] | None = None, source_type: str | None = None, image: bytes | None = None
) -> bytes:
    """A JPEG (``image``, else a small flat one) signed offline with a C2PA manifest: training-mining entries and
    a created action."""
    import c2pa

    assertions: list[dict[str, Any]] = []
    if training is not None:
        entries = {
            entry: {"use": use, **({"constraint_info": "licence required"} if use == "constrained" else {})}
            for entry, use in training.items()
        }
        assertions.append({"label": "c2pa.training-mining", "data": {"entries": entries}})
    action: dict[str, Any] = {
        "action": "c2pa.created",
        "digitalSourceType": source_type or "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
    }
    if source_type is not None:
        action["softwareAgent"] = {"name": "Example Diffusion", "version": "2.1"}
    assertions.append({"label": "c2pa.actions", "data": {"actions": [action]}})
    manifest = {
        "claim_generator_info": [{"name": "datahygiene-tests", "version": "1"}],
        "title": "signed.jpg",
        "format": "image/jpeg",
        "assertions": assertions,
    }
    source = io.BytesIO(image) if image is not None else io.BytesIO()
    if image is None:
        _image(colour="orange").save(source, "JPEG")
    source.seek(0)
    signed = io.BytesIO()
    with c2pa.Builder(manifest) as builder:
        builder.sign(_test_signer(), "image/jpeg", source, signed)
    return signed.getvalue()


def c2pa_tampered_jpeg() -> bytes:
    """A signed JPEG whose pixels changed after signing: the manifest's data hash no longer matches."""
    signed = bytearray(c2pa_jpeg())
    signed[-20] ^= 0xFF  # inside the entropy-coded data, before the EOI marker
    signed[-30] ^= 0x55
    return bytes(signed)


def c2pa_remote_jpeg(url: str = "https://example.com/manifests/photo.c2pa") -> bytes:
    """A JPEG signed with its manifest stored elsewhere: the file only carries the URL (XMP dcterms:provenance)."""
    import c2pa

    manifest = {
        "claim_generator_info": [{"name": "datahygiene-tests", "version": "1"}],
        "title": "remote.jpg",
        "format": "image/jpeg",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                        }
                    ]
                },
            }
        ],
    }
    source = io.BytesIO()
    _image(colour="purple").save(source, "JPEG")
    source.seek(0)
    signed = io.BytesIO()
    with c2pa.Builder(manifest) as builder:
        builder.set_no_embed()
        builder.set_remote_url(url)
        builder.sign(_test_signer(), "image/jpeg", source, signed)
    return signed.getvalue()
