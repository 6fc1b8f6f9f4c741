"""datasheet.html renders in headless Chromium without console errors; its gallery is blurred."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image, ImageStat

from datahygiene.reports.datasheet import build_datasheet, write_datasheet
from datahygiene.reports.datasheet.gallery import thumbnail
from tests.reports.datasheet.browser import load
from tests.reports.datasheet.conftest import EXPECTED, checkerboard


def _contrast(encoded: str) -> float:
    image = Image.open(io.BytesIO(base64.b64decode(encoded))).convert("L")
    return float(ImageStat.Stat(image).stddev[0])


def test_browser_check_catches_console_errors(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><script>console.error("boom"); missing();</script></body></html>')
    _, console = load(page)
    assert any("boom" in line for line in console)
    assert any("Uncaught" in line for line in console)


def test_report_renders_without_console_messages(planted_run: Path) -> None:
    write_datasheet(planted_run)
    dom, console = load(planted_run / "datasheet.html")
    assert console == []
    assert dom.count("<h2>") == 8  # summary + the seven datasheet sections
    assert 'aria-label="histogram of toxicity"' in dom
    assert 'class="threshold"' in dom
    assert dom.count('src="data:image/jpeg;base64,') == EXPECTED["images"]
    assert "http://" not in dom.replace('xmlns="http://www.w3.org/2000/svg"', "")  # self-contained


def test_gallery_images_are_blurred_by_default(planted_run: Path) -> None:
    sharp = thumbnail(checkerboard(), blur=False)
    blurred = thumbnail(checkerboard())
    assert sharp is not None
    assert blurred is not None
    assert _contrast(sharp) > 80 > 20 > _contrast(blurred)
    gallery = build_datasheet(planted_run).gallery
    pictures = [item for item in gallery if item.thumbnail]
    assert len(pictures) == EXPECTED["images"]
    assert all(_contrast(item.thumbnail or "") < 20 for item in pictures)
    assert {item.route for item in gallery} == {"rejected", "quarantined"}
    assert thumbnail(b"not an image") is None
