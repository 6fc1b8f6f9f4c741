"""Headless Chromium: load a page, return its DOM and every console message it logged."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

INSTALL = "apt-get install -y chromium"


def chromium() -> str:
    """Path of the browser; a missing browser fails the test unless DATAHYGIENE_NO_BROWSER=1."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("DATAHYGIENE_NO_BROWSER") == "1":
            pytest.skip("DATAHYGIENE_NO_BROWSER=1: browser checks switched off")
        pytest.fail(f"chromium is not installed ({INSTALL}); set DATAHYGIENE_NO_BROWSER=1 to skip browser checks")
    return found


def load(page: Path) -> tuple[str, list[str]]:
    """(DOM after load, console lines) of ``page`` opened from disk with no network."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                "--dump-dom",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    return done.stdout, console
