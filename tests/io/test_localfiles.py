"""Image files read on the pool: the same bytes, order and reasons as one file at a time."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from datahygiene.core.config import ColumnMap
from datahygiene.io.localfiles import Folder
from datahygiene.io.normalize import ShardContext, normalize
from datahygiene.io.sources import SourceBatch


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "imgs"
    (root / "sub").mkdir(parents=True)
    for number in range(40):  # distinct sizes and contents, so a swapped pair shows
        (root / ("sub" if number % 3 else ".") / f"{number:03d}.jpg").write_bytes(bytes([number]) * (number * 37 + 1))
    (tmp_path / "secret.jpg").write_bytes(b"outside")
    (root / "escape.jpg").symlink_to(tmp_path / "secret.jpg")
    (root / "inside.jpg").symlink_to(root / "000.jpg")
    (root / "linkdir").symlink_to(tmp_path)
    return root


def _serial(root: Path, relative: str) -> bytes | str:
    """What a one-file-at-a-time reader gives: the bytes, or the reason."""
    base = root.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        return "image_path_escape"
    try:
        return target.read_bytes()
    except OSError:
        return "image_missing_file"


def test_pooled_folder_read_matches_serial_read(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*.jpg") if not p.is_symlink())
    names += ["escape.jpg", "inside.jpg", "linkdir/secret.jpg", "../secret.jpg", "gone.jpg", "sub//001.jpg", "sub/"]
    names.insert(5, "missing/deeper.jpg")
    rows: list[dict[str, object]] = [{"id": name, "image": {"path": name}} for name in names]
    context = ShardContext(shard_id="s", root=root, columns=ColumnMap())
    records, reasons = normalize(SourceBatch(rows=list(rows)), context, 0)
    images = records.column("image").to_pylist()
    reason_lists = reasons.to_arrow().to_pylist()
    expected = [_serial(root, name) for name in names]
    assert [image["path"] for image in images] == names
    for row, want in enumerate(expected):
        if isinstance(want, bytes):
            assert images[row]["bytes"] == want, names[row]
            assert not reason_lists[row], names[row]
        else:
            assert images[row]["bytes"] is None, names[row]
            assert reason_lists[row] == [want], names[row]
    assert expected.count("image_path_escape") == 3
    assert expected.count("image_missing_file") == 3
    assert records.column("id").to_pylist() == names
    assert isinstance(records.column("image"), pa.StructArray)


def test_folder_refuses_paths_that_leave_it(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    folder = Folder(root)
    assert folder.read("inside.jpg") == (root / "000.jpg").read_bytes()
    for relative in ("escape.jpg", "linkdir/secret.jpg", "../secret.jpg", str(tmp_path / "secret.jpg")):
        with pytest.raises(PermissionError):
            folder.read(relative)
    with pytest.raises(ValueError, match="null"):
        folder.read("a\0b")
    results = folder.read_many(["000.jpg", "gone.jpg", "escape.jpg"])
    assert results[0] == (root / "000.jpg").read_bytes()
    assert isinstance(results[1], FileNotFoundError)
    assert isinstance(results[2], PermissionError)
    assert Path(folder.base).is_absolute()
