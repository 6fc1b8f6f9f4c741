"""The run lock on an object store: one committing writer per output URL.

There is no ``flock`` on an object store. The lock is an object,
``_lock.json``, naming its owner (a random token, host and pid) and an
expiry; a thread renews the expiry while the run holds it.

* **Conditional writes** (S3 and S3-compatible stores that honour
  ``If-None-Match: *`` and ``If-Match``, e.g. AWS S3 and SeaweedFS): the lock
  is created only if absent, renewed and taken over only if its ETag is still
  the one read. Two writers can never both hold it.
* **Lease** (any other fsspec store): write the lock, wait ``settle``
  seconds, read it back; the writer whose token is there holds it. Two
  writers that start within ``settle`` of each other could both believe they
  won; every commit re-reads the lock first, so the loser stops at its next
  commit record at the latest.

A lock is stale once its expiry has passed, or at once when its owner ran on
this host and that process is gone (a killed run resumed on the same machine
need not wait). Every commit record is written only after re-reading the lock
and finding this run's token (:meth:`ObjectLock.check`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from datahygiene.io.storage import Store, precondition_failed

log = logging.getLogger(__name__)

LOCK_NAME = "_lock.json"
#: Seconds a lock stays valid without renewal (``DATAHYGIENE_LEASE_SECONDS`` overrides).
DEFAULT_TTL = 120.0
_SETTLE = 1.0


class LockLostError(RuntimeError):
    """Another writer took the output's lock (this run paused longer than the lease)."""


def _ttl() -> float:
    return float(os.environ.get("DATAHYGIENE_LEASE_SECONDS", DEFAULT_TTL))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(holder: dict[str, Any], now: float) -> bool:
    """Whether a lock body may be taken over: expired, or its owner was a process of this host that is gone."""
    if float(holder.get("expires", 0)) < now:
        return True
    return holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid", -1)))


class ObjectLock:
    """Holds ``_lock.json`` in a store; :meth:`acquire` raises ``BlockingIOError`` when another run holds it."""

    def __init__(self, store: Store, ttl: float | None = None) -> None:
        self.store = store
        self.ttl = _ttl() if ttl is None else ttl
        self.token = uuid.uuid4().hex
        self.conditional = store.protocol in ("s3", "s3a")
        self._etag: str | None = None
        self._lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the lock object ---------------------------------------------------------------------------
    def _body(self) -> bytes:
        holder = {
            "owner": self.token,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "expires": time.time() + self.ttl,
            "mode": "conditional" if self.conditional else "lease",
        }
        return json.dumps(holder, sort_keys=True).encode()

    def _split(self) -> tuple[str, str]:
        bucket, key, _ = self.store.fs.split_path(self.store.key(LOCK_NAME))
        return str(bucket), str(key)

    def _put(self, **condition: str) -> None:
        """PUT the lock body, with S3 conditions (``IfNoneMatch``/``IfMatch``) in conditional mode."""
        if not self.conditional:
            self.store.put_bytes(LOCK_NAME, self._body())
            return
        bucket, key = self._split()
        reply = self.store.fs.call_s3("put_object", Bucket=bucket, Key=key, Body=self._body(), **condition)
        self._etag = str(reply.get("ETag"))

    def _read(self) -> tuple[dict[str, Any], str | None] | None:
        """The current lock body and ETag, or None when there is no lock."""
        if self.conditional:
            bucket, key = self._split()
            try:
                reply = self.store.fs.call_s3("get_object", Bucket=bucket, Key=key)
            except FileNotFoundError:
                return None
            body = reply["Body"]
            data = _read_stream(self.store, body)
            return json.loads(data), str(reply.get("ETag"))
        if not self.store.exists(LOCK_NAME):
            return None
        return json.loads(self.store.read_bytes(LOCK_NAME)), None

    # -- protocol ----------------------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the lock or raise ``BlockingIOError``; starts the renewal thread."""
        if self.conditional:
            self._acquire_conditional()
        else:
            self._acquire_lease()
        self._thread = threading.Thread(target=self._renew_loop, name="datahygiene-lease", daemon=True)
        self._thread.start()

    def _acquire_conditional(self) -> None:
        try:
            self._put(IfNoneMatch="*")
            return
        except OSError as error:
            if not precondition_failed(error):
                raise
        current = self._read()
        if current is None:  # released in between: one more try
            try:
                self._put(IfNoneMatch="*")
                return
            except OSError as error:
                if precondition_failed(error):
                    raise BlockingIOError(f"{self.store.name(LOCK_NAME)} is held") from None
                raise
        holder, etag = current
        if not is_stale(holder, time.time()) or etag is None:
            raise BlockingIOError(f"{self.store.name(LOCK_NAME)} is held by {holder.get('host')}:{holder.get('pid')}")
        try:
            self._put(IfMatch=etag)
        except OSError as error:
            if precondition_failed(error):
                raise BlockingIOError(f"{self.store.name(LOCK_NAME)} was taken over by another run") from None
            raise
        log.info("took over the stale lock of %s:%s", holder.get("host"), holder.get("pid"))

    def _acquire_lease(self) -> None:
        current = self._read()
        if current is not None and not is_stale(current[0], time.time()):
            holder = current[0]
            raise BlockingIOError(f"{self.store.name(LOCK_NAME)} is held by {holder.get('host')}:{holder.get('pid')}")
        self._put()
        time.sleep(_SETTLE)
        current = self._read()
        if current is None or current[0].get("owner") != self.token:
            raise BlockingIOError(f"{self.store.name(LOCK_NAME)} was taken by another run")

    def check(self) -> None:
        """Raise :class:`LockLostError` unless this run still holds the lock (called before every commit record)."""
        current = None if self._lost else self._read()
        if current is None or current[0].get("owner") != self.token:
            self._lost = True
            raise LockLostError(f"{self.store.name(LOCK_NAME)} is no longer held by this run; stopping")

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                if self.conditional:
                    assert self._etag is not None
                    self._put(IfMatch=self._etag)
                else:
                    current = self._read()
                    if current is None or current[0].get("owner") != self.token:
                        raise LockLostError("lease taken")
                    self._put()
            except Exception as error:  # noqa: BLE001 - a lost lock is reported by check() before the next commit
                if precondition_failed(error) or isinstance(error, LockLostError):
                    self._lost = True
                    log.error("lost the lock on %s", self.store.url)
                    return
                log.warning("could not renew the lock on %s: %s", self.store.url, error)

    def release(self) -> None:
        """Stop renewing and delete the lock if this run still holds it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._lost:
            return
        try:
            current = self._read()
            if current is not None and current[0].get("owner") == self.token:
                self.store.remove([LOCK_NAME])
        except OSError as error:
            log.warning("could not release the lock on %s: %s (it expires by itself)", self.store.url, error)
        self._lost = True


def _read_stream(store: Store, body: Any) -> bytes:
    """Read an aiobotocore streaming body on the filesystem's event loop."""
    from fsspec.asyn import sync

    async def read() -> bytes:
        async with body:
            data: bytes = await body.read()
            return data

    data: bytes = sync(store.fs.loop, read)
    return data
