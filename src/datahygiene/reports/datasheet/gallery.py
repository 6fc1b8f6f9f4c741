"""Sample removed rows for the HTML gallery, with small blurred thumbnails."""

from __future__ import annotations

import base64
import io
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageFilter

from datahygiene.core import columns as C
from datahygiene.reports.datasheet.model import GalleryItem
from datahygiene.reports.datasheet.scan import reason_family

THUMBNAIL = 160
#: Images larger than this are not decoded for the gallery (they may be decompression bombs).
MAX_PIXELS = 40_000_000
TEXT_CHARS = 280


def thumbnail(data: bytes, *, blur: bool = True) -> str | None:
    """A base64 JPEG thumbnail of encoded image ``data``, Gaussian-blurred unless ``blur`` is False."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    return None
                image.draft("RGB", (THUMBNAIL * 2, THUMBNAIL * 2))
                small = image.convert("RGB")
                small.thumbnail((THUMBNAIL, THUMBNAIL))
    except Exception:  # noqa: BLE001 - any undecodable or hostile image is simply not shown
        return None
    if blur:
        small = small.filter(ImageFilter.GaussianBlur(radius=max(4, max(small.size) // 10)))
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=70)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _pick(files: list[tuple[str, Path]], per_family: int, limit: int) -> dict[Path, dict[int, str]]:
    """File -> {row: route}: up to ``per_family`` rows per reason family and modality, ``limit`` in all."""
    taken: dict[str, int] = {}
    chosen: dict[Path, dict[int, str]] = {}
    total = 0
    for route, path in files:
        offset = 0
        parquet = pq.ParquetFile(path)
        columns = [C.REJECT_REASONS] + ([f"{C.IMAGE}.path"] if C.IMAGE in parquet.schema_arrow.names else [])
        for batch in parquet.iter_batches(batch_size=8192, columns=columns):
            images = batch.column(1).is_valid().to_pylist() if batch.num_columns > 1 else [False] * batch.num_rows
            for row, (reasons, has_image) in enumerate(zip(batch.column(0).to_pylist(), images, strict=True)):
                family = (reason_family(reasons[0]) if reasons else route) + (" +image" if has_image else "")
                if taken.get(family, 0) >= per_family:
                    continue
                taken[family] = taken.get(family, 0) + 1
                chosen.setdefault(path, {})[offset + row] = route
                total += 1
                if total >= limit:
                    return chosen
            offset += batch.num_rows
    return chosen


def sample_removed(run_dir: Path, *, per_family: int = 4, limit: int = 24, blur: bool = True) -> list[GalleryItem]:
    """Sample rejected and quarantined rows, spread over reason families."""
    files = [
        (route, path) for route in ("rejected", "quarantined") for path in sorted((run_dir / route).glob("*.parquet"))
    ]
    items: list[GalleryItem] = []
    for path, rows in _pick(files, per_family, limit).items():
        parquet = pq.ParquetFile(path)
        names = [c for c in (C.ID, C.TEXT, C.IMAGE, C.REJECT_REASONS) if c in parquet.schema_arrow.names]
        offset = 0
        for batch in parquet.iter_batches(batch_size=64, columns=names):
            wanted = [r - offset for r in sorted(rows) if offset <= r < offset + batch.num_rows]
            if wanted:
                for index, row in zip(wanted, batch.take(pa.array(wanted)).to_pylist(), strict=True):
                    image = row.get(C.IMAGE) or {}
                    data = image.get("bytes")
                    text = row.get(C.TEXT)
                    items.append(
                        GalleryItem(
                            id=str(row.get(C.ID)),
                            route=rows[offset + index],
                            reasons=list(row.get(C.REJECT_REASONS) or []),
                            text=None if text is None else text[:TEXT_CHARS] + ("…" if len(text) > TEXT_CHARS else ""),
                            thumbnail=thumbnail(data, blur=blur) if data else None,
                            has_image=bool(data),
                        )
                    )
            offset += batch.num_rows
            if offset > max(rows):
                break
    return items
