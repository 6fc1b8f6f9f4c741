"""Everything dedup remembers about representatives, and how it is written to and read from disk.

State grows append-only, so it is saved as *segments*: each segment holds the representatives added
since a mark. Per-shard checkpoints are a list of segment files (earlier ones hard-linked, not copied);
the cross-run index is a directory of segment files plus a ``manifest.json`` swapped in atomically.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from datahygiene.io.sink import fsync_dir
from datahygiene.stages.dedup.index import GrowArray, KeyIndex
from datahygiene.stages.dedup.semantic import EmbeddingIndex

Marks = dict[str, int]
MANIFEST = "manifest.json"
_KEY_INDEXES = ("exact_text", "exact_bytes", "exact_pixels", "bands", "mih")


class IndexMismatchError(ValueError):
    """A saved index was built with settings that produce different keys than this run's."""


class DedupState:
    """Representatives (id per number) and every lookup structure that points at them."""

    def __init__(self, num_perm: int, fingerprint: dict[str, Any]) -> None:
        self.fingerprint = fingerprint
        self.ids: list[str] = []
        self.keys: dict[str, KeyIndex] = {name: KeyIndex() for name in _KEY_INDEXES}
        self.sig_reps = GrowArray(np.int64)
        self.sigs = GrowArray(np.uint32, num_perm)
        self.ph_reps = GrowArray(np.int64)
        self.ph_vals = GrowArray(np.uint64)
        self.emb: EmbeddingIndex | None = None

    # -- lookups -------------------------------------------------------------------------------------
    def signature(self, rep: int) -> npt.NDArray[np.uint32]:
        """The MinHash signature of a representative."""
        pos = int(np.searchsorted(self.sig_reps.view(), rep))
        row: npt.NDArray[np.uint32] = self.sigs.view()[pos]
        return row

    def phashes(self, reps: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
        """The pHashes of representatives."""
        pos = np.searchsorted(self.ph_reps.view(), reps)
        out: npt.NDArray[np.uint64] = self.ph_vals.view()[pos]
        return out

    def nbytes(self) -> dict[str, int]:
        """Memory held per structure (bytes)."""
        sizes = {name: index.nbytes for name, index in self.keys.items()}
        sizes["signatures"] = self.sigs.nbytes + self.sig_reps.nbytes
        sizes["phashes"] = self.ph_vals.nbytes + self.ph_reps.nbytes
        sizes["embeddings"] = 0 if self.emb is None else len(self.emb) * (self.emb.dim * 4 + 8)
        sizes["ids"] = sum(len(i) for i in self.ids) + 8 * len(self.ids)
        return sizes

    # -- segments ------------------------------------------------------------------------------------
    def marks(self) -> Marks:
        """Current sizes of every append-only structure (a position to write a segment from)."""
        marks = {name: len(index) for name, index in self.keys.items()}
        marks.update(ids=len(self.ids), sigs=self.sigs.size, ph=self.ph_vals.size)
        marks["emb"] = 0 if self.emb is None else len(self.emb)
        return marks

    def write_segment(self, path: Path, since: Marks) -> None:
        """Write everything added after ``since`` to ``path`` (an ``.npz``), fsynced."""
        ids = [s.encode() for s in self.ids[since["ids"] :]]
        arrays: dict[str, npt.NDArray[Any]] = {
            "ids_data": np.frombuffer(b"".join(ids), dtype=np.uint8),
            "ids_offsets": np.concatenate([[0], np.cumsum([len(s) for s in ids], dtype=np.int64)]),
            "rep_start": np.array([since["ids"]], dtype=np.int64),
            "sig_reps": self.sig_reps.view()[since["sigs"] :],
            "sigs": self.sigs.view()[since["sigs"] :],
            "ph_reps": self.ph_reps.view()[since["ph"] :],
            "ph_vals": self.ph_vals.view()[since["ph"] :],
        }
        for name, index in self.keys.items():
            arrays[f"{name}_keys"] = index.keys.view()[since[name] :]
            arrays[f"{name}_reps"] = index.reps.view()[since[name] :]
        if self.emb is not None and len(self.emb) > since["emb"]:
            start, count = since["emb"], len(self.emb) - since["emb"]
            arrays["emb"] = self.emb.index.reconstruct_n(start, count)
            arrays["emb_reps"] = self.emb._reps_cache[start:]
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)

    def read_segment(self, path: Path) -> None:
        """Append a segment written by ``write_segment``."""
        with np.load(path) as seg:
            if int(seg["rep_start"][0]) != len(self.ids):
                raise IndexMismatchError(f"{path}: segment starts at representative {int(seg['rep_start'][0])}")
            data, offsets = seg["ids_data"].tobytes(), seg["ids_offsets"]
            self.ids.extend(data[a:b].decode() for a, b in itertools.pairwise(offsets))
            self.sig_reps.append(seg["sig_reps"])
            self.sigs.append(seg["sigs"])
            self.ph_reps.append(seg["ph_reps"])
            self.ph_vals.append(seg["ph_vals"])
            for name, index in self.keys.items():
                index.add(seg[f"{name}_keys"], seg[f"{name}_reps"])
            if "emb" in seg:
                self.add_embeddings(seg["emb"], seg["emb_reps"])

    def add_embeddings(self, emb: npt.NDArray[np.float32], reps: npt.NDArray[np.int64]) -> None:
        """Index representatives' embeddings (the dimension is fixed by the first call)."""
        if self.emb is None:
            self.emb = EmbeddingIndex(emb.shape[1])
        elif emb.shape[1] != self.emb.dim:
            raise IndexMismatchError(f"embedding dimension {emb.shape[1]} != indexed {self.emb.dim}")
        self.emb.add(emb, reps)


def write_manifest(directory: Path, fingerprint: dict[str, Any], segments: list[str]) -> None:
    """Atomically replace ``directory/manifest.json`` (temp file, fsync, rename, fsync directory)."""
    tmp = directory / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
    with tmp.open("w") as fh:
        json.dump({"fingerprint": fingerprint, "segments": segments}, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(directory / MANIFEST)
    fsync_dir(directory)


def read_checkpoint_fingerprint(directory: Path) -> dict[str, Any]:
    """The fingerprint a manifest was written with (read before it can be checked)."""
    fingerprint: dict[str, Any] = json.loads((directory / MANIFEST).read_text())["fingerprint"]
    return fingerprint


def read_manifest(directory: Path, fingerprint: dict[str, Any]) -> list[Path]:
    """Segment files listed by a manifest, after checking it was written with the same settings."""
    manifest = json.loads((directory / MANIFEST).read_text())
    if manifest["fingerprint"] != fingerprint:
        raise IndexMismatchError(
            f"dedup index {directory} was built with {manifest['fingerprint']}, this run uses {fingerprint}"
        )
    return [directory / name for name in manifest["segments"]]


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (copy across file systems)."""
    if target.exists():
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
