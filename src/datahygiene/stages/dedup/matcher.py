"""The dedup decision rule: each row, in input order, against earlier representatives and earlier kept rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from datahygiene.stages.dedup import phash
from datahygiene.stages.dedup.candidates import Pairs, near_image_rows, signature_agreement, similar_earlier_rows
from datahygiene.stages.dedup.features import Features, any_ok
from datahygiene.stages.dedup.index import group_pairs, unique_pairs
from datahygiene.stages.dedup.params import DedupParams
from datahygiene.stages.dedup.semantic import in_batch_pairs
from datahygiene.stages.dedup.state import DedupState

Match = tuple[str, str, float]  # (dup_of id, kind, similarity)
_Found = tuple[int, str, float]  # (representative's state index, kind, similarity)


def resolve_rows(state: DedupState, params: DedupParams, feats: Features, ids: list[str]) -> list[Match | None]:
    """Match one batch's rows in input order against ``state`` and each other (the stage's own decision rule).

    ``dedup.partition_steps`` resolves whole connected components of candidate rows at once with :func:`resolve`.
    """
    return resolve(state, params, feats, ids).matches


@dataclass(frozen=True)
class Resolution:
    """The matcher's answer for a batch: matches, and every row's representative as a state index."""

    matches: list[Match | None]
    #: per row: the state index of the representative it duplicates, -1 when it is not a duplicate
    reps: list[int]
    #: rows that became representatives -> their state index
    rep_of_row: dict[int, int]


def resolve(state: DedupState, params: DedupParams, feats: Features, ids: list[str]) -> Resolution:
    """:func:`resolve_rows` with the representatives' state indices (for rights inheritance)."""
    matcher = _Matcher(state, params, feats, ids)
    matches = matcher.run()
    return Resolution(matches, matcher.reps, dict(matcher.rep_of_row))


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
        self.reps: list[int] = [-1] * feats.rows  # per row: the representative it duplicates (state index)

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
        band_pairs: Pairs | None = {}
        band_list: dict[int, list[int]] = {}
        if f.bands is not None and f.sigs is not None and f.sig_ok is not None:
            band_pairs = similar_earlier_rows(f.bands, f.sigs, f.sig_ok, p.near_text.threshold)
            if band_pairs is None:  # too many band-sharing pairs to verify up front: verify row by row
                band_list = _shared_keys(f.bands, f.sig_ok)
        band_seen: dict[int, list[int]] = {}
        ph_cands: dict[int, list[int]] = {}
        ph_batch: dict[int, list[tuple[int, int]]] = {}
        if f.ph is not None and f.ph_flip is not None:
            mirror, radius = p.near_image.mirror, p.near_image.radius
            if len(self.state.keys["mih"]):
                queries = np.concatenate([f.ph, f.ph_flip]) if mirror else f.ph
                probe = phash.probe_keys(queries, radius)
                rows, reps = self.state.keys["mih"].lookup(probe.reshape(-1))
                ph_cands = group_pairs((rows // probe.shape[1]) % n, reps)
            ph_batch = near_image_rows(f.ph, f.ph_flip, near_image_ok(f), radius, mirror)
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
        sig_ok, ph_ok, emb_ok = _pylist(f.sig_ok), _pylist(near_image_ok(f)), _pylist(f.emb_ok)
        found: list[_Found | None] = [None] * n
        for i in range(n):
            if not usable[i]:
                continue
            match = self._exact(i, exact)
            if match is None and sig_ok and sig_ok[i]:
                if band_pairs is not None:
                    match = self._near_text_verified(band_best.get(i), band_pairs.get(i, ()))
                else:
                    match = self._near_text(i, band_best.get(i), band_list.get(i, ()), band_seen)
            if match is None and f.ph is not None and ph_ok[i]:
                match = self._near_image(i, ph_cands.get(i, []), ph_batch.get(i, []))
            if match is None and emb_ok and emb_ok[i]:
                match = self._semantic(sem_committed.get(i, []), sem_batch.get(i, []))
            if match is not None:
                found[i] = match
                continue
            self._keep(i, exact, band_list, band_seen)
        self._publish(exact)
        out: list[Match | None] = [None] * n
        for i, match in enumerate(found):
            if match is not None:
                self.reps[i] = match[0]
                out[i] = (self.state.ids[match[0]], match[1], match[2])
        return out

    def _exact(self, i: int, exact: list[_ExactKeys]) -> _Found | None:
        for kind in exact:
            if not kind.usable(i):
                continue
            if i in kind.committed:
                return kind.committed[i], "exact", 1.0
            j = kind.seen.get(kind.key_list[i])
            if j is not None:
                return self.rep_of_row[j], "exact", 1.0
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
        pairs = np.stack(unique_pairs(qpos // nb, reps), axis=1)
        positions = np.searchsorted(st.sig_reps.view(), pairs[:, 1])
        sims = signature_agreement(f.sigs, pairs[:, 0], st.sigs.view(), positions)
        keep = sims >= self.params.near_text.threshold
        pairs, sims = pairs[keep], sims[keep]
        order = np.lexsort((pairs[:, 1], -sims, pairs[:, 0]))  # per row: most similar, then earliest
        pairs, sims = pairs[order], sims[order]
        first = np.flatnonzero(np.r_[True, pairs[1:, 0] != pairs[:-1, 0]]) if len(pairs) else np.empty(0, np.int64)
        return {
            int(r): (float(sim), int(rep))
            for r, rep, sim in zip(pairs[first, 0], pairs[first, 1], sims[first], strict=True)
        }

    def _near_text_verified(
        self, committed: tuple[float, int] | None, similar: Iterable[tuple[int, float]]
    ) -> _Found | None:
        """Like ``_near_text`` with the batch's similar earlier rows known: keep those that were kept."""
        best: tuple[float, int] | None = None
        if committed is not None:
            best = (committed[0], committed[1])
        for j, sim in similar:  # j ascending: the first most similar kept row wins; earlier runs win ties
            if j in self.rep_of_row and (best is None or sim > best[0]):
                best = (sim, self.rep_of_row[j])
        return None if best is None else (best[1], "near", best[0])

    def _near_text(
        self, i: int, committed: tuple[float, int] | None, bands: Iterable[int], seen: dict[int, list[int]]
    ) -> _Found | None:
        sigs = self.f.sigs
        assert sigs is not None
        best: tuple[float, int] | None = None
        if committed is not None:
            best = (committed[0], committed[1])
        rows = sorted({j for key in bands for j in seen.get(key, ())})
        if rows:
            # one vectorised comparison per row; the first most similar earlier row wins, an earlier run's
            # representative wins ties (as comparing the candidates one by one in order did)
            sims = np.count_nonzero(sigs[rows] == sigs[i], axis=1) / sigs.shape[1]
            k = int(np.argmax(sims))
            sim = float(sims[k])
            if sim >= self.params.near_text.threshold and (best is None or sim > best[0]):
                best = (sim, self.rep_of_row[rows[k]])
        return None if best is None else (best[1], "near", best[0])

    def _near_image(self, i: int, committed: list[int], in_batch: list[tuple[int, int]]) -> _Found | None:
        """Closest earlier representative within the radius: earlier runs' first (by index), then this batch's
        kept rows by row (``in_batch``: candidates within the radius, see ``candidates.near_image_rows``)."""
        f, radius = self.f, self.params.near_image.radius
        assert f.ph is not None
        assert f.ph_flip is not None
        mine = [f.ph[i], f.ph_flip[i]] if self.params.near_image.mirror else [f.ph[i]]
        best: tuple[int, int] | None = None
        if committed:
            reps = np.array(sorted(set(committed)), dtype=np.int64)
            for rep, h in zip(reps.tolist(), self.state.phashes(reps), strict=True):
                dist = min(int(np.bitwise_count(np.bitwise_xor(h, x))) for x in mine)
                if dist <= radius and (best is None or dist < best[0]):
                    best = (dist, rep)
        for j, dist in in_batch:
            if j in self.rep_of_row and (best is None or dist < best[0]):
                best = (dist, self.rep_of_row[j])
        return None if best is None else (best[1], "near", 1.0 - best[0] / 64.0)

    def _semantic(self, committed: list[Any], in_batch: list[Any]) -> _Found | None:
        best: tuple[float, int] | None = None
        for rep, sim in committed:
            if best is None or sim > best[0]:
                best = (sim, int(rep))
        for j, sim in in_batch:
            if int(j) in self.rep_of_row and (best is None or sim > best[0]):
                best = (sim, self.rep_of_row[int(j)])
        return None if best is None else (best[1], "semantic", float(best[0]))

    def _keep(
        self,
        i: int,
        exact: list[_ExactKeys],
        bands: dict[int, list[int]],
        band_seen: dict[int, list[int]],
    ) -> None:
        self.rep_of_row[i] = self.first_rep + len(self.kept)
        self.kept.append(i)
        for kind in exact:
            if kind.usable(i):
                kind.seen.setdefault(kind.key_list[i], i)
        if i in bands:
            for key in bands[i]:
                band_seen.setdefault(key, []).append(i)

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
            sel = near_image_ok(f)[rows]
            st.ph_reps.append(reps[sel])
            st.ph_vals.append(f.ph[rows[sel]])
            keys = phash.insert_keys(f.ph[rows[sel]], self.params.near_image.radius)
            st.keys["mih"].add(keys.reshape(-1), np.repeat(reps[sel], keys.shape[1]))
        if f.emb is not None and f.emb_ok is not None:
            sel = f.emb_ok[rows]
            if sel.any():
                st.add_embeddings(f.emb[rows[sel]], reps[sel])


def near_image_ok(feats: Features) -> npt.NDArray[np.bool_]:
    """Rows that take part in near-image (pHash) matching: decoded and not below ``near_image.min_side``."""
    return feats.ph_ok if feats.ph_ok is not None else feats.image_ok


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
