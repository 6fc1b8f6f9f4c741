"""``provenance.c2pa``: record every C2PA manifest an image carries, whatever it says.

Adds, per row (null / empty where the image carries no manifest):

=========================  ===================================================================================
``c2pa_state``             ``valid`` (signature and hashes verify), ``invalid`` (they do not, or the embedded
                           store cannot be read) or ``unverifiable`` (the image only points at a remote manifest,
                           which is never fetched)
``c2pa_signer``            the signing certificate's common name, with its organisation when it has one
``c2pa_claim_generator``   every claim generator named in the store (``list<string>``)
``c2pa_source_types``      every ``digitalSourceType`` of the store's actions, short names
                           (``digitalCapture``, ``algorithmicMedia``, ``trainedAlgorithmicMedia`` ...)
``c2pa_evidence``          one line per fact: manifest label, validation result and failure codes, trust,
                           training-mining entries, remote URL, read errors
=========================  ===================================================================================

``valid`` says the manifest is intact, not that its signer is trusted: certificates are not checked against a
trust list offline (``signingCredential.untrusted`` is listed in the evidence, not counted as a failure).
Nothing here rejects a row: the columns travel with the data (a rule can route rows with a manifest,
``c2pa_state not_null``), and rights dedup's ``keep: most_metadata`` prefers the copy that carries one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa

from datahygiene.core.registry import register
from datahygiene.core.stage import ArtifactKind, Batch, ColumnRole, StageBase, StageParams
from datahygiene.io.meta import ARTIFACT_KEY as METADATA_ARTIFACT
from datahygiene.io.meta import C2paInfo, batch_metadata

STATE_COLUMN = "c2pa_state"
#: Validation codes that say the signer is not on a trust list; offline, that is every signer.
UNTRUSTED_CODES = frozenset({"signingCredential.untrusted"})
OUTPUT_SCHEMA = pa.schema(
    [
        pa.field(STATE_COLUMN, pa.string()),
        pa.field("c2pa_signer", pa.string()),
        pa.field("c2pa_claim_generator", pa.list_(pa.string())),
        pa.field("c2pa_source_types", pa.list_(pa.string())),
        pa.field("c2pa_evidence", pa.list_(pa.string())),
    ]
)


class C2paParams(StageParams):
    """No settings: every manifest is recorded."""


def short_source_type(value: str) -> str:
    """``http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia`` -> ``algorithmicMedia``."""
    return value.rstrip("/").rsplit("/", 1)[-1]


def state_of(info: C2paInfo) -> str:
    """``valid``, ``invalid`` or ``unverifiable`` (see the module docstring)."""
    if info.read_error is not None:
        return "invalid"
    if info.remote_url is not None and info.active_manifest is None:
        return "unverifiable"
    failures = [code for code in info.validation_failures if code not in UNTRUSTED_CODES]
    if failures or (info.validation_state or "").lower() == "invalid":
        return "invalid"
    if (info.validation_state or "").lower() in ("valid", "trusted"):
        return "valid"
    return "unverifiable"  # read, but the SDK gave no verdict


def signer_of(info: C2paInfo) -> str | None:
    """``common name (organisation)``, either part alone, or None."""
    if info.signer and info.signature_issuer and info.signer != info.signature_issuer:
        return f"{info.signer} ({info.signature_issuer})"
    return info.signer or info.signature_issuer


def evidence_of(info: C2paInfo, state: str) -> list[str]:
    """Human-readable lines of what the manifest says and how it validated."""
    lines: list[str] = []
    if info.active_manifest:
        lines.append(f"manifest {info.active_manifest}")
    if info.remote_url:
        lines.append(f"remote manifest {info.remote_url} (not fetched offline)")
    if info.read_error:
        lines.append(f"unreadable: {info.read_error}")
    if info.validation_state:
        lines.append(f"validation {info.validation_state} -> {state}")
    lines.extend(f"failure {code}" for code in info.validation_failures if code not in UNTRUSTED_CODES)
    if UNTRUSTED_CODES & set(info.validation_failures):
        lines.append("signer not on a trust list (not checked offline)")
    lines.extend(f"action {action}" for action in info.actions)
    lines.extend(f"software agent {agent}" for agent in info.software_agents)
    lines.extend(f"training-mining {entry}={use}" for entry, use in sorted(info.training_mining.items()))
    return lines


@register("provenance.c2pa")
class C2paStage(StageBase[C2paParams]):
    """Records each image's C2PA manifest: state, signer, claim generators, source types, evidence."""

    Params: ClassVar[type[StageParams]] = C2paParams
    column_roles: ClassVar[Mapping[str, ColumnRole]] = {STATE_COLUMN: ColumnRole.C2PA_STATE}

    def output_schema(self) -> pa.Schema:
        """Five columns, null / empty for rows without a manifest."""
        return OUTPUT_SCHEMA

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """Read (or reuse) every row's image metadata and describe its manifest."""
        columns: dict[str, list[Any]] = {f.name: [] for f in OUTPUT_SCHEMA}
        for meta in batch_metadata(batch, c2pa=True):
            info = meta.c2pa if meta is not None else None
            if info is None:
                for name, values in columns.items():
                    values.append(None if name in (STATE_COLUMN, "c2pa_signer") else [])
                continue
            state = state_of(info)
            columns[STATE_COLUMN].append(state)
            columns["c2pa_signer"].append(signer_of(info))
            columns["c2pa_claim_generator"].append(list(info.claim_generators))
            columns["c2pa_source_types"].append([short_source_type(v) for v in info.digital_source_types])
            columns["c2pa_evidence"].append(evidence_of(info, state))
        return {f.name: pa.array(columns[f.name], f.type) for f in OUTPUT_SCHEMA}

    def artifacts(self) -> dict[str, ArtifactKind]:
        """The parsed image metadata, cached for the other metadata stages of the batch (never spooled)."""
        return {METADATA_ARTIFACT: ArtifactKind.BATCH_LOCAL}

    def describe(self) -> dict[str, Any]:
        """No model: the SDK that reads the manifests, and that nothing is fetched."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            sdk = version("c2pa-python")
        except PackageNotFoundError:
            sdk = None
        return {"name": self.name, "version": self.version, "model": None, "c2pa_python": sdk, "network": "never"}
