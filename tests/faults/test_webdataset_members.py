"""Every WebDataset member is a column of a sample or a row of its own with the reason it is not (issue 16: 5)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from tests.helpers import rows_by_id, run_inputs


def _add(archive: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    archive.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def test_members_that_cannot_be_columns_are_rows_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "shard.tar"
    with tarfile.open(path, "w") as archive:
        _add(archive, "data", kind=tarfile.DIRTYPE)  # a directory holds no bytes: not a row
        _add(archive, "data/s1.txt", b"first caption")
        _add(archive, "data/s1.txt", b"second member of the same name")
        _add(archive, "data/s1.TXT", b"same name in other case")
        _add(archive, "data/s1.cls", b"3")
        _add(archive, "data/s2.txt", b"a caption")
        _add(archive, "data/s2.jpg", kind=tarfile.SYMTYPE, link="../../etc/passwd")
        _add(archive, "data/s3.txt", kind=tarfile.LNKTYPE, link="data/s1.txt")
        _add(archive, "data/s4.txt", kind=tarfile.CHRTYPE)
        _add(archive, "data/s5.txt", kind=tarfile.FIFOTYPE)
        _add(archive, "data/README", b"no extension")
        _add(archive, "data/s6.__key__", b"would overwrite the key")
        _add(archive, "data/s6.txt", b"sixth")
    result = run_inputs([path], tmp_path / "out")
    assert result.exit_code == 0
    rows = rows_by_id(tmp_path / "out")
    reasons = {key: row["reject_reasons"] for key, row in rows.items()}
    assert rows["data/s1"]["text"] == "first caption"  # the first member of a name is the column
    assert rows["data/s1"]["route"] == rows["data/s2"]["route"] == "kept"
    assert reasons["data/s1.txt"] == ["tar_member:duplicate"]
    assert rows["data/s1.txt"]["raw"] == b"second member of the same name"  # the bytes stay in the ledger
    assert reasons["data/s1.TXT"] == ["tar_member:duplicate"]
    assert reasons["data/s2.jpg"] == ["tar_member:link"]
    assert rows["data/s2.jpg"]["raw"] == b"../../etc/passwd"
    assert reasons["data/s3.txt"] == ["tar_member:link"]
    assert reasons["data/s4.txt"] == reasons["data/s5.txt"] == ["tar_member:special"]
    assert reasons["data/README"] == ["tar_member:no_extension"]
    assert rows["data/README"]["raw"] == b"no extension"
    assert reasons["data/s6.__key__"] == ["tar_member:duplicate"]
    assert rows["data/s6"]["text"] == "sixth"
    # 12 members (the directory aside): 4 samples hold 5 of them, 7 are rows of their own
    assert result.manifest["rows_in"] == 4 + 7
    shard = result.manifest["shards"][0]
    assert shard["reject_reasons"] == {
        "tar_member:duplicate": 3,
        "tar_member:link": 2,
        "tar_member:no_extension": 1,
        "tar_member:special": 2,
    }
