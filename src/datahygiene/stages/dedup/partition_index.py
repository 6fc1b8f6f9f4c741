"""The cross-run dedup index (``--dedup-index``) in the partitioned path: read as sources, written per shard.

Reading: every segment the index lists when the run starts becomes a source of the phase
(:func:`spill_segment`, one task per segment): its representatives' features and keys are spilled and
partitioned like a shard's rows, numbered before every row of this run. A ``resolve`` task turns the index's
rows in its partition into the committed state the stage would hold (:func:`committed_state`), so a row of
this run matches them exactly as the streaming stage matches the representatives it loaded from the index.

Writing: this run's representatives (usable rows that are no duplicate) go to one segment per shard
(:func:`shard_segment`, numbered on from the index's count in the order the stage visits the shard's rows),
and :func:`publish` adds them to the index the way ``DedupStage.commit_run`` does: segments first, then the
manifest (on S3 a PUT conditional on the ETag read when the run started), refusing an index another run
changed, and doing nothing when this run's segments are already there (a resume after a crash between
publishing and the run's manifest).
"""

from __future__ import annotations

import io
import itertools
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from datahygiene.io.storage import is_url, open_binary
from datahygiene.io.workarea import WorkArea
from datahygiene.stages.dedup import phash
from datahygiene.stages.dedup.features import Features
from datahygiene.stages.dedup.index_store import IndexFolder
from datahygiene.stages.dedup.keep import visit_order
from datahygiene.stages.dedup.layout import USABLE, partition_params
from datahygiene.stages.dedup.params import DedupParams
from datahygiene.stages.dedup.spill import Candidates, SourceSpill, duplicates_of, source_rows
from datahygiene.stages.dedup.state import DedupState, read_manifest, write_manifest

_EXACT = (("exact_text", "text_key", "text_ok"), ("exact_bytes", "bytes_key", "bytes_ok"))
_INDEXES = ("exact_text", "exact_bytes", "exact_pixels", "bands", "mih")


def index_segments(location: Path | str, params: DedupParams) -> list[str]:
    """The segments the index lists now (checked against the run's settings); none for a new index."""
    folder = IndexFolder(location)
    folder.pull_manifest()
    if not (folder.path / "manifest.json").exists():
        return []
    return [path.name for path in read_manifest(folder.path, params.fingerprint())]


def _segment_url(location: Path | str, segment: str) -> Path | str:
    return f"{str(location).rstrip('/')}/{segment}" if is_url(str(location)) else Path(location) / segment


def spill_segment(
    location: Path | str, segment: str, name: str, work: WorkArea, params: DedupParams, partitions: int
) -> int:
    """Spill one index segment as source ``name``; returns its representatives (every one of them usable)."""
    with open_binary(_segment_url(location, segment)) as handle:
        data = handle.read()
    with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
        seg = {key: loaded[key] for key in loaded.files}
    offsets, ids_data = seg["ids_offsets"].tolist(), seg["ids_data"].tobytes()
    n, first = len(offsets) - 1, int(seg["rep_start"][0])
    ids = pa.array([ids_data[a:b].decode() for a, b in itertools.pairwise(offsets)], pa.string())
    num_perm = params.near_text.num_perm
    sigs, sig_ok = np.zeros((n, num_perm), np.uint32), np.zeros(n, np.bool_)
    at = seg["sig_reps"] - first
    sigs[at], sig_ok[at] = seg["sigs"], True
    feats = Features(rows=n, image_ok=np.zeros(n, np.bool_), sigs=sigs, sig_ok=sig_ok)
    for index, key, ok in _EXACT:
        values, mask = np.zeros(n, np.uint64), np.zeros(n, np.bool_)
        at = seg[f"{index}_reps"] - first
        values[at], mask[at] = seg[f"{index}_keys"], True
        setattr(feats, key, values)
        setattr(feats, ok, mask)
    feats.pixel_key = np.zeros(n, np.uint64)
    feats.pixel_key[seg["exact_pixels_reps"] - first] = seg["exact_pixels_keys"]
    feats.ph, feats.ph_flip = np.zeros(n, np.uint64), np.zeros(n, np.uint64)
    feats.ph[seg["ph_reps"] - first] = seg["ph_vals"]
    for reps in (seg["ph_reps"], seg["exact_pixels_reps"], seg["exact_bytes_reps"]):
        feats.image_ok[reps - first] = True
    spill = SourceSpill(work, name, params, partitions)
    spill.add_features(feats, ids)
    spill.close()
    return n


def add_representatives(state: DedupState, feats: Features, ids: list[str], params: DedupParams) -> None:
    """Append rows to ``state`` as representatives, in order (what the stage's matcher publishes for kept rows)."""
    first = len(state.ids)
    reps = np.arange(first, first + feats.rows, dtype=np.int64)
    state.ids.extend(ids)
    exact = (
        ("exact_text", feats.text_key, feats.text_ok),
        ("exact_bytes", feats.bytes_key, feats.bytes_ok),
        ("exact_pixels", feats.pixel_key, feats.image_ok),
    )
    for name, keys, ok in exact:
        if keys is not None and ok is not None:
            state.keys[name].add(keys[ok], reps[ok])
    if feats.sigs is not None and feats.bands is not None and feats.sig_ok is not None:
        sel = feats.sig_ok
        state.sig_reps.append(reps[sel])
        state.sigs.append(feats.sigs[sel])
        state.keys["bands"].add(feats.bands[sel].reshape(-1), np.repeat(reps[sel], feats.bands.shape[1]))
    if feats.ph is not None:
        sel = feats.image_ok
        state.ph_reps.append(reps[sel])
        state.ph_vals.append(feats.ph[sel])
        keys = phash.insert_keys(feats.ph[sel], params.near_image.radius)
        state.keys["mih"].add(keys.reshape(-1), np.repeat(reps[sel], keys.shape[1]))


def committed_state(reps: Candidates, params: DedupParams) -> DedupState:
    """The state the stage would hold for these representatives of earlier runs (in index order)."""
    state = DedupState(params.near_text.num_perm, params.fingerprint())
    add_representatives(state, reps.feats, reps.ids, params)
    return state


def representative_rows(work: WorkArea, name: str) -> npt.NDArray[np.int64]:
    """The rows of source ``name`` that become representatives: usable and no duplicate (ascending)."""
    flags = work.load_array(f"shards/{name}/flags.npy")
    keep = (flags & USABLE) > 0
    keep[np.asarray(duplicates_of(work, name).column("row").to_numpy(), dtype=np.int64)] = False
    return np.flatnonzero(keep).astype(np.int64)


def shard_segment(work: WorkArea, name: str, rep_start: int, params: DedupParams) -> int:
    """Write ``segments/NAME.npz``: the shard's representatives numbered from ``rep_start``; returns their count."""
    tparams = partition_params(params)
    rows = representative_rows(work, name)
    if len(rows) == 0:
        return 0
    # in the order the stage visited them (the ``keep`` rule's, :func:`.keep.visit_order`): that order numbers
    # them in the index, and a later run's ties go to the lowest number
    visited = visit_order(work.load_array(f"shards/{name}/priority.npy"))
    rows = visited[np.isin(visited, rows)]
    feats, ids = source_rows(work, name, rows, tparams)
    state = DedupState(tparams.near_text.num_perm, tparams.fingerprint())
    add_representatives(state, feats, [str(v) for v in ids.to_pylist()], tparams)
    work.save_arrays(f"segments/{name}.npz", _segment_arrays(state, rep_start))
    return len(rows)


def _segment_arrays(state: DedupState, rep_start: int) -> dict[str, npt.NDArray[Any]]:
    """``DedupState.write_segment``'s arrays for a state whose representatives start at ``rep_start``."""
    encoded = [s.encode() for s in state.ids]
    arrays: dict[str, npt.NDArray[Any]] = {
        "ids_data": np.frombuffer(b"".join(encoded), dtype=np.uint8),
        "ids_offsets": np.concatenate([[0], np.cumsum([len(s) for s in encoded], dtype=np.int64)]),
        "rep_start": np.array([rep_start], dtype=np.int64),
        "sig_reps": state.sig_reps.view() + rep_start,
        "sigs": state.sigs.view(),
        "ph_reps": state.ph_reps.view() + rep_start,
        "ph_vals": state.ph_vals.view(),
    }
    for index in _INDEXES:
        arrays[f"{index}_keys"] = state.keys[index].keys.view()
        arrays[f"{index}_reps"] = state.keys[index].reps.view() + rep_start
    return arrays


def publish(
    location: Path | str, params: DedupParams, base: list[str], token: str, work: WorkArea, shards: list[str]
) -> list[str]:
    """Add the shards' segments (``segments/NAME.npz``, in order) to the index; returns the new segment names."""
    folder = IndexFolder(location)
    folder.pull_manifest()
    fingerprint = params.fingerprint()
    has_manifest = (folder.path / "manifest.json").exists()
    current = [p.name for p in read_manifest(folder.path, fingerprint)] if has_manifest else []
    if current != base:
        if current[: len(base)] == base and all(token in name for name in current[len(base) :]):
            return []  # published before a crash; the resumed run has nothing new to add
        raise RuntimeError(f"dedup index {location} changed during this run; not overwriting it")
    folder.path.mkdir(parents=True, exist_ok=True)
    names, new = list(base), []
    for shard in shards:
        source = f"segments/{shard}.npz"
        if not work.exists(source):
            continue
        name = f"seg-{len(names):06d}-{token}.npz"
        temporary = folder.path / f".{name}.tmp"
        if work.remote:
            work.store.get_file(source, temporary)
        else:
            shutil.copyfile(work.path(source), temporary)
        temporary.replace(folder.path / name)
        names.append(name)
        new.append(name)
    write_manifest(folder.path, fingerprint, names)
    folder.push(new)
    return new
