"""The object store building blocks against the real server: stores, conditional-write lock, lease."""

from __future__ import annotations

import time

import pytest

from datahygiene.io.lease import LOCK_NAME, LockLostError, ObjectLock
from datahygiene.io.storage import StorageError, Store, is_url


def test_urls_and_paths() -> None:
    assert is_url("s3://bucket/key")
    assert is_url("gs://b/k")
    assert not is_url("data/x.parquet")
    assert not is_url("hf:org/name")
    assert not is_url("file:///tmp/x")


def test_unknown_scheme_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match="nosuch://"):
        Store.open("nosuch://bucket/x")


def test_a_missing_driver_names_the_package_and_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec.core

    def refuse(url: str) -> None:
        raise ImportError("Install gcsfs to access Google Storage")

    monkeypatch.setattr(fsspec.core, "url_to_fs", refuse)
    with pytest.raises(StorageError, match=r"gs://b/run: .* pip install gcsfs \(the datahygiene extra 'gcs'\)"):
        Store.open("gs://b/run")


def test_store_round_trip(bucket: str) -> None:
    store = Store.open(f"{bucket}/run")
    assert store.listing() == []
    store.put_bytes("a/b.json", b"{}")
    store.put_bytes("c.txt", b"hello")
    assert store.listing() == ["a/b.json", "c.txt"]
    assert store.read_bytes("c.txt") == b"hello"
    assert store.exists("a/b.json")
    store.remove(["a/b.json"])
    assert not store.exists("a/b.json")


def test_conditional_lock_refuses_a_second_writer(bucket: str) -> None:
    store = Store.open(f"{bucket}/run")
    first, second = ObjectLock(store, ttl=30), ObjectLock(store, ttl=30)
    assert first.conditional
    first.acquire()
    with pytest.raises(BlockingIOError):
        second.acquire()
    first.check()
    first.release()
    assert not store.exists(LOCK_NAME)
    second.acquire()
    second.release()


def test_expired_lock_is_taken_over_once_and_the_old_holder_stops(bucket: str) -> None:
    store = Store.open(f"{bucket}/run")
    old = ObjectLock(store, ttl=1.0)
    old.acquire()
    old._stop.set()  # the holder hangs: no more renewals (its process is alive, so only expiry frees it)
    time.sleep(1.5)
    takers = [ObjectLock(store, ttl=30), ObjectLock(store, ttl=30)]
    won = []
    for taker in takers:
        try:
            taker.acquire()
            won.append(taker)
        except BlockingIOError:
            pass
    assert len(won) == 1
    with pytest.raises(LockLostError):
        old.check()
    won[0].release()


def test_lease_mode_without_conditional_writes(bucket: str) -> None:
    store = Store.open(f"{bucket}/run")
    first, second = ObjectLock(store, ttl=30), ObjectLock(store, ttl=30)
    first.conditional = second.conditional = False  # what a store without If-None-Match gets
    first.acquire()
    with pytest.raises(BlockingIOError):
        second.acquire()
    first.check()
    first.release()
