"""The ``dedup`` stage: marks each row that duplicates an earlier kept row, in this run or an earlier one."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from datahygiene.core.registry import register
from datahygiene.core.stage import Batch, ColumnRole, StageBase, StageContext, StageParams
from datahygiene.stages.dedup import minhash, phash
from datahygiene.stages.dedup.features import Features, any_ok, compute
from datahygiene.stages.dedup.index import group_pairs
from datahygiene.stages.dedup.index_store import IndexFolder
from datahygiene.stages.dedup.params import DedupParams
from datahygiene.stages.dedup.semantic import in_batch_pairs
from datahygiene.stages.dedup.state import (
    DedupState,
    link_or_copy,
    read_checkpoint_fingerprint,
    read_manifest,
    write_manifest,
)

Match = tuple[str, str, float]  # (dup_of id, kind, similarity)
OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("dup_of", pa.string()),
        pa.field("dup_kind", pa.string()),
        pa.field("dup_similarity", pa.float32()),
    ]
)
_STATE_FILE = "dedup-state.json"


@register("dedup")
class DedupStage(StageBase[DedupParams]):
    """Exact, near (MinHash text, pHash image) and semantic dedup; first in input order keeps."""

    Params: ClassVar[type[StageParams]] = DedupParams

    def __init__(self, params: StageParams, context: StageContext) -> None:
        super().__init__(params, context)
        self.fingerprint = self.params.fingerprint()
        self._index = None if context.dedup_index is None else IndexFolder(context.dedup_index)
        #: Names this run's segment in the cross-run index, so a resumed run knows what it already published.
        self._run_token = uuid.uuid4().hex
        self._base_segments = self._index_segments()
        self.state = self._fresh_state()
        self._run_start = self.state.marks()
        self._checkpoint_segments: list[Path] = []
        self._checkpoint_marks = self.state.marks()

    # -- protocol ------------------------------------------------------------------------------------
    def output_schema(self) -> pa.Schema:
        """``dup_of`` (representative id), ``dup_kind`` (exact|near|semantic), ``dup_similarity``."""
        return OUTPUT_SCHEMA

    column_roles: ClassVar[Mapping[str, ColumnRole]] = {"dup_kind": ColumnRole.DUPLICATE_KIND}
    #: ``module:function`` that builds this stage as a partitioned phase (the flow's parallel commit).
    phase: ClassVar[str] = "datahygiene.stages.dedup.phase:dedup_phase"

    def describe(self) -> dict[str, Any]:
        """Settings, libraries and the cross-run index this run matched against."""
        return describe(self.params, self.context.dedup_index, self._run_start["ids"])

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """Match every row against earlier representatives; unique, decodable rows become representatives."""
        feats = compute(batch, self.params)
        id_column = batch.column("id")
        ids: list[str] = [str(v) for v in id_column.to_pylist()] if id_column is not None else [""] * batch.num_rows
        matches = resolve_rows(self.state, self.params, feats, ids)
        dup_of = [m[0] if m else None for m in matches]
        kind = [m[1] if m else None for m in matches]
        sim = [m[2] if m else None for m in matches]
        return {
            "dup_of": pa.array(dup_of, type=pa.string()),
            "dup_kind": pa.array(kind, type=pa.string()),
            "dup_similarity": pa.array(sim, type=pa.float32()),
        }

    # -- state ---------------------------------------------------------------------------------------
    def _index_segments(self) -> list[Path]:
        """The segments the cross-run index lists now (none without ``--dedup-index``)."""
        if self._index is None:
            return []
        self._index.pull()
        if not (self._index.path / "manifest.json").exists():
            return []
        return read_manifest(self._index.path, self.fingerprint)

    def _fresh_state(self) -> DedupState:
        """The cross-run index as it was when this run started, and nothing of this run."""
        state = DedupState(self.params.near_text.num_perm, self.fingerprint)
        for segment in self._base_segments:
            state.read_segment(segment)
        return state

    def _checkpoint_fingerprint(self) -> dict[str, Any]:
        return {**self.fingerprint, "base": [p.name for p in self._base_segments], "run": self._run_token}

    def save_state(self, directory: Path) -> None:
        """Checkpoint: hard-link earlier segments and write one new segment with this shard's representatives."""
        directory.mkdir(parents=True, exist_ok=True)
        names: list[str] = []
        for old in self._checkpoint_segments:
            link_or_copy(old, directory / old.name)
            names.append(old.name)
        new = directory / f"dedup-seg-{len(names):06d}.npz"
        self.state.write_segment(new, self._checkpoint_marks)
        names.append(new.name)
        write_manifest(directory, self._checkpoint_fingerprint(), names)
        (directory / _STATE_FILE).write_text("ok\n")
        self._checkpoint_segments = [directory / n for n in names]
        self._checkpoint_marks = self.state.marks()

    def state_moved(self, directory: Path) -> None:
        """The runner committed the last snapshot: point at its segments in their final folder."""
        self._checkpoint_segments = [directory / segment.name for segment in self._checkpoint_segments]

    def load_state(self, directory: Path) -> None:
        """Restore the state saved by ``save_state`` (``--resume``, or rollback after a failed shard).

        A directory without a saved state (the runner's empty one) means: nothing from this run yet.
        A saved state brings back the run's token and the index segments it started from, so a run that
        published to the cross-run index and died before its manifest was written resumes without
        counting its own segment twice.
        """
        has_state = (directory / "manifest.json").exists()
        if has_state:
            saved = read_checkpoint_fingerprint(directory)
            self._run_token = str(saved.get("run", self._run_token))
            self._base_segments = self._segments_at_start([str(name) for name in saved.get("base", [])])
        self.state = self._fresh_state()
        self._run_start = self.state.marks()
        self._checkpoint_segments = read_manifest(directory, self._checkpoint_fingerprint()) if has_state else []
        for segment in self._checkpoint_segments:
            self.state.read_segment(segment)
        self._checkpoint_marks = self.state.marks()

    def _segments_at_start(self, base: list[str]) -> list[Path]:
        """The index segments named ``base`` (as the run saw them at its start), checked against the index now."""
        current = self._index_segments()
        if [p.name for p in current[: len(base)]] != base:
            raise RuntimeError(f"dedup index {self.context.dedup_index} changed since this run started")
        return current[: len(base)]

    def commit_run(self) -> None:
        """Publish this run's representatives to the cross-run index (new segment + atomic manifest swap)."""
        if self._index is None:
            return
        index_dir = self._index.path
        index_dir.mkdir(parents=True, exist_ok=True)
        names = [p.name for p in self._base_segments]
        current = [p.name for p in self._index_segments()]
        if current != names:
            if current[: len(names)] == names and all(self._run_token in name for name in current[len(names) :]):
                return  # published before a crash; the resumed run has nothing new to add
            raise RuntimeError(f"dedup index {self._index.location} changed during this run; not overwriting it")
        new: list[str] = []
        if self.state.marks()["ids"] > self._run_start["ids"]:
            segment = index_dir / f"seg-{len(names):06d}-{self._run_token}.npz"
            self.state.write_segment(segment, self._run_start)
            names.append(segment.name)
            new.append(segment.name)
        write_manifest(index_dir, self.fingerprint, names)
        self._index.push(new)
        self._base_segments = [index_dir / n for n in names]
        self._run_start = self.state.marks()


def describe(params: DedupParams, dedup_index: Path | str | None, earlier: int) -> dict[str, Any]:
    """What the stage records in the manifest and the files' metadata (``earlier``: the index's representatives)."""
    return {
        "params": params.model_dump(),
        "fingerprint": params.fingerprint(),
        "minhash": "rensa RMinHash",
        "semantic_index": "faiss IndexFlatIP",
        "dedup_index": None if dedup_index is None else str(dedup_index),
        "representatives_from_earlier_runs": earlier,
    }


def resolve_rows(state: DedupState, params: DedupParams, feats: Features, ids: list[str]) -> list[Match | None]:
    """Match one batch's rows in input order against ``state`` and each other (the stage's own decision rule).

    Also used by ``dedup.distributed`` to resolve whole connected components of candidate rows at once.
    """
    return _Matcher(state, params, feats, ids).run()


@dataclass
class _ExactKeys:
    """One kind of exact key over a batch (text, bytes or pixels) and where each row's key was seen before."""

    name: str
    keys: npt.NDArray[np.uint64] | None
    ok: npt.NDArray[np.bool_] | None
    #: batch row -> representative (state index) from an earlier batch, shard or run with the same key
    committed: dict[int, int]
    #: key -> first batch row that kept it (filled as the row loop keeps rows)
    seen: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Python lists: cheap per-element access in the row loop
        self.key_list: list[int] = _pylist(self.keys)
        self.ok_list: list[bool] = _pylist(self.ok if self.keys is not None else None)

    def usable(self, row: int) -> bool:
        """Whether ``row`` has this kind of key."""
        return bool(self.ok_list) and bool(self.ok_list[row])


class _Matcher:
    """Resolves one batch row by row in input order (matches must point at *kept* rows only)."""

    def __init__(self, state: DedupState, params: DedupParams, feats: Features, ids: list[str]) -> None:
        self.state, self.params, self.f, self.ids = state, params, feats, ids
        self.first_rep = len(state.ids)
        self.kept: list[int] = []  # batch rows that became representatives, in order
        self.rep_of_row: dict[int, int] = {}

    def _committed_exact(self, name: str, keys: npt.NDArray[np.uint64] | None) -> dict[int, int]:
        if keys is None or len(self.state.keys[name]) == 0:
            return {}
        rows, reps = self.state.keys[name].lookup(keys)
        out: dict[int, int] = {}
        for r, rep in zip(rows.tolist(), reps.tolist(), strict=True):
            out.setdefault(r, rep)
        return out

    def run(self) -> list[Match | None]:
        f, p = self.f, self.params
        n = f.rows
        exact_sources = [
            ("exact_text", f.text_key, f.text_ok),
            ("exact_bytes", f.bytes_key, f.bytes_ok),
            ("exact_pixels", f.pixel_key, f.image_ok),
        ]
        exact = [_ExactKeys(name, keys, ok, self._committed_exact(name, keys)) for name, keys, ok in exact_sources]
        band_best = self._committed_text()
        band_list = _shared_keys(f.bands, f.sig_ok) if f.bands is not None and f.sig_ok is not None else {}
        band_seen: dict[int, list[int]] = {}
        ph_cands: dict[int, list[int]] = {}
        probes: list[list[int]] = []
        if f.ph is not None and f.ph_flip is not None:
            queries = np.concatenate([f.ph, f.ph_flip]) if p.near_image.mirror else f.ph
            probe = phash.probe_keys(queries, p.near_image.radius)
            if len(self.state.keys["mih"]):
                rows, reps = self.state.keys["mih"].lookup(probe.reshape(-1))
                ph_cands = group_pairs((rows // probe.shape[1]) % n, reps)
            probes = probe.tolist()
        mih_seen: dict[int, list[int]] = {}
        sem_batch: dict[int, list[tuple[int, float]]] = {}
        sem_committed: dict[int, list[tuple[int, float]]] = {}
        if f.emb is not None and f.emb_ok is not None:
            i_rows, j_rows, sims = in_batch_pairs(f.emb, f.emb_ok, p.semantic.threshold)
            sem_batch = group_pairs(i_rows, np.stack([j_rows, sims], axis=1)) if len(i_rows) else {}
            if self.state.emb is not None:
                q = np.flatnonzero(f.emb_ok)
                rows, reps, sims = self.state.emb.range_search(f.emb[q], p.semantic.threshold)
                sem_committed = group_pairs(q[rows], np.stack([reps, sims], axis=1)) if len(rows) else {}
        usable = any_ok(f).tolist()
        sig_ok, image_ok, emb_ok = _pylist(f.sig_ok), _pylist(f.image_ok), _pylist(f.emb_ok)
        out: list[Match | None] = [None] * n
        for i in range(n):
            if not usable[i]:
                continue
            match = self._exact(i, exact)
            if match is None and sig_ok and sig_ok[i]:
                match = self._near_text(i, band_best.get(i), band_list.get(i, ()), band_seen)
            if match is None and f.ph is not None and image_ok[i]:
                match = self._near_image(i, ph_cands.get(i, []), probes, mih_seen)
            if match is None and emb_ok and emb_ok[i]:
                match = self._semantic(sem_committed.get(i, []), sem_batch.get(i, []))
            if match is not None:
                out[i] = match
                continue
            self._keep(i, exact, band_list, band_seen, mih_seen)
        self._publish(exact)
        return out

    def _exact(self, i: int, exact: list[_ExactKeys]) -> Match | None:
        for kind in exact:
            if not kind.usable(i):
                continue
            if i in kind.committed:
                return self.state.ids[kind.committed[i]], "exact", 1.0
            j = kind.seen.get(kind.key_list[i])
            if j is not None:
                return self.ids[j], "exact", 1.0
        return None

    def _committed_text(self) -> dict[int, tuple[float, int]]:
        """Best verified earlier representative per row, ``{row: (similarity, rep)}`` (vectorised)."""
        f, st = self.f, self.state
        if f.bands is None or f.sigs is None or len(st.keys["bands"]) == 0:
            return {}
        nb = f.bands.shape[1]
        qpos, reps = st.keys["bands"].lookup(f.bands.reshape(-1))
        if len(qpos) == 0:
            return {}
        pairs = np.unique(np.stack([qpos // nb, reps], axis=1), axis=0)
        sims = np.empty(len(pairs), dtype=np.float64)
        stored = st.sigs.view()
        positions = np.searchsorted(st.sig_reps.view(), pairs[:, 1])
        for start in range(0, len(pairs), 65536):  # bounded memory: 64k pairs x num_perm at a time
            sl = slice(start, start + 65536)
            sims[sl] = (f.sigs[pairs[sl, 0]] == stored[positions[sl]]).mean(axis=1)
        keep = sims >= self.params.near_text.threshold
        pairs, sims = pairs[keep], sims[keep]
        order = np.lexsort((pairs[:, 1], -sims, pairs[:, 0]))  # per row: most similar, then earliest
        pairs, sims = pairs[order], sims[order]
        first = np.flatnonzero(np.r_[True, pairs[1:, 0] != pairs[:-1, 0]]) if len(pairs) else np.empty(0, np.int64)
        return {
            int(r): (float(sim), int(rep))
            for r, rep, sim in zip(pairs[first, 0], pairs[first, 1], sims[first], strict=True)
        }

    def _near_text(
        self, i: int, committed: tuple[float, int] | None, bands: Iterable[int], seen: dict[int, list[int]]
    ) -> Match | None:
        sigs = self.f.sigs
        assert sigs is not None
        best: tuple[float, str] | None = None
        if committed is not None:
            best = (committed[0], self.state.ids[committed[1]])
        rows = sorted({j for key in bands for j in seen.get(key, ())})
        for j in rows:
            sim = minhash.estimated_jaccard(sigs[i], sigs[j])
            if sim >= self.params.near_text.threshold and (best is None or sim > best[0]):
                best = (sim, self.ids[j])
        return None if best is None else (best[1], "near", best[0])

    def _near_image(self, i: int, committed: list[int], probes: list[list[int]], seen: dict[int, list[int]]) -> Match:
        f, radius, n = self.f, self.params.near_image.radius, self.f.rows
        assert f.ph is not None
        assert f.ph_flip is not None
        mine = [f.ph[i], f.ph_flip[i]] if self.params.near_image.mirror else [f.ph[i]]
        cands: list[tuple[str, np.uint64]] = []
        if committed:
            reps = np.array(sorted(set(committed)), dtype=np.int64)
            cands += [(self.state.ids[r], h) for r, h in zip(reps.tolist(), self.state.phashes(reps), strict=True)]
        keys = probes[i] + (probes[i + n] if self.params.near_image.mirror else [])
        for j in sorted({j for key in keys for j in seen.get(key, ())}):
            cands.append((self.ids[j], f.ph[j]))
        best: tuple[int, str] | None = None
        for rep_id, h in cands:
            dist = min(int(np.bitwise_count(np.bitwise_xor(h, x))) for x in mine)
            if dist <= radius and (best is None or dist < best[0]):
                best = (dist, rep_id)
        return None if best is None else (best[1], "near", 1.0 - best[0] / 64.0)  # type: ignore[return-value]

    def _semantic(self, committed: list[Any], in_batch: list[Any]) -> Match | None:
        best: tuple[float, str] | None = None
        for rep, sim in committed:
            if best is None or sim > best[0]:
                best = (sim, self.state.ids[int(rep)])
        for j, sim in in_batch:
            if int(j) in self.rep_of_row and (best is None or sim > best[0]):
                best = (sim, self.ids[int(j)])
        return None if best is None else (best[1], "semantic", float(best[0]))

    def _keep(
        self,
        i: int,
        exact: list[_ExactKeys],
        bands: dict[int, list[int]],
        band_seen: dict[int, list[int]],
        mih_seen: dict[int, list[int]],
    ) -> None:
        self.rep_of_row[i] = self.first_rep + len(self.kept)
        self.kept.append(i)
        for kind in exact:
            if kind.usable(i):
                kind.seen.setdefault(kind.key_list[i], i)
        if i in bands:
            for key in bands[i]:
                band_seen.setdefault(key, []).append(i)
        if self.f.ph is not None and self.f.image_ok[i]:
            for key in phash.insert_keys(self.f.ph[i : i + 1], self.params.near_image.radius)[0].tolist():
                mih_seen.setdefault(key, []).append(i)

    def _publish(self, exact: list[_ExactKeys]) -> None:
        """Append this batch's representatives to the state."""
        if not self.kept:
            return
        f, st = self.f, self.state
        rows = np.array(self.kept, dtype=np.int64)
        reps = np.arange(self.first_rep, self.first_rep + len(rows), dtype=np.int64)
        st.ids.extend(self.ids[i] for i in self.kept)
        for kind in exact:
            if kind.keys is not None and kind.ok is not None:
                sel = kind.ok[rows]
                st.keys[kind.name].add(kind.keys[rows[sel]], reps[sel])
        if f.sigs is not None and f.bands is not None and f.sig_ok is not None:
            sel = f.sig_ok[rows]
            st.sig_reps.append(reps[sel])
            st.sigs.append(f.sigs[rows[sel]])
            st.keys["bands"].add(f.bands[rows[sel]].reshape(-1), np.repeat(reps[sel], f.bands.shape[1]))
        if f.ph is not None:
            sel = f.image_ok[rows]
            st.ph_reps.append(reps[sel])
            st.ph_vals.append(f.ph[rows[sel]])
            keys = phash.insert_keys(f.ph[rows[sel]], self.params.near_image.radius)
            st.keys["mih"].add(keys.reshape(-1), np.repeat(reps[sel], keys.shape[1]))
        if f.emb is not None and f.emb_ok is not None:
            sel = f.emb_ok[rows]
            if sel.any():
                st.add_embeddings(f.emb[rows[sel]], reps[sel])


def _pylist(values: npt.NDArray[Any] | None) -> list[Any]:
    """A numpy array as a Python list (cheap per-element access in the row loop); ``[]`` for None."""
    return [] if values is None else values.tolist()


def _shared_keys(bands: npt.NDArray[np.uint64], ok: npt.NDArray[np.bool_]) -> dict[int, list[int]]:
    """Per row, only the band keys that occur in more than one usable row of the batch.

    Keys seen once in the batch cannot link two rows of this batch, so the row loop skips them.
    """
    usable = np.flatnonzero(ok)
    if len(usable) < 2:
        return {}
    keys = bands[usable]
    _, inverse, counts = np.unique(keys.reshape(-1), return_inverse=True, return_counts=True)
    shared = (counts[inverse] > 1).reshape(keys.shape)
    out: dict[int, list[int]] = {}
    for r in np.flatnonzero(shared.any(axis=1)).tolist():
        out[int(usable[r])] = keys[r][shared[r]].tolist()
    return out
