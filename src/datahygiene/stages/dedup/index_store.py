"""Where the cross-run dedup index (``--dedup-index``) lives: a local folder, or a folder URL mirrored locally.

The stage always reads and writes a local folder. For a URL that folder is a
temporary mirror: :meth:`IndexFolder.pull` downloads ``manifest.json`` and the
segments it lists (each segment is immutable, so one already mirrored is not
fetched again); :meth:`IndexFolder.push` uploads new segments first and then
the manifest, the commit point. On S3 the manifest PUT is conditional on the
ETag read by the last pull (or on there being none), so two runs publishing
at once cannot lose one's segment: the second is refused.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import weakref
from pathlib import Path

from datahygiene.io.storage import Store, is_url, local_path, precondition_failed

MANIFEST = "manifest.json"


class IndexChangedError(RuntimeError):
    """Another run published to the index since this run read it."""


class IndexFolder:
    """The index folder as the stage sees it (``path``), kept in step with its URL when it has one."""

    def __init__(self, location: Path | str) -> None:
        self.location = location
        self.store = Store.open(str(location)) if is_url(str(location)) else None
        self._etag: str | None = None
        if self.store is None:
            self.path = local_path(location)
        else:
            self.path = Path(tempfile.mkdtemp(prefix="datahygiene-index-"))
            weakref.finalize(self, shutil.rmtree, self.path, True)

    def pull(self) -> None:
        """Mirror the current manifest and the segments it lists (no-op for a local folder)."""
        self.pull_manifest()
        store = self.store
        if store is None or not (self.path / MANIFEST).exists():
            return
        for name in json.loads((self.path / MANIFEST).read_bytes())["segments"]:
            if not (self.path / name).exists():
                store.get_file(name, self.path / name)

    def pull_manifest(self) -> None:
        """Mirror the current manifest only (and note its ETag); the segments stay in the store."""
        store = self.store
        if store is None:
            return
        if not store.exists(MANIFEST):
            self._etag = None
            (self.path / MANIFEST).unlink(missing_ok=True)
            return
        self._etag = str(store.fs.info(store.key(MANIFEST)).get("ETag")) if store.protocol in ("s3", "s3a") else None
        (self.path / MANIFEST).write_bytes(store.read_bytes(MANIFEST))

    def push(self, segments: list[str]) -> None:
        """Upload ``segments`` (new files in the mirror), then the mirror's manifest (no-op for a local folder)."""
        store = self.store
        if store is None:
            return
        for name in segments:
            store.put_file(self.path / name, name)
        data = (self.path / MANIFEST).read_bytes()
        if store.protocol not in ("s3", "s3a"):
            store.put_bytes(MANIFEST, data)
            return
        bucket, key, _ = store.fs.split_path(store.key(MANIFEST))
        condition = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
        try:
            reply = store.fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data, **condition)
        except OSError as error:
            if precondition_failed(error):
                raise IndexChangedError(
                    f"dedup index {store.url} changed during this run; not overwriting it"
                ) from None
            raise
        self._etag = str(reply.get("ETag"))
