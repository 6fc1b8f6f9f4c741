"""Benchmark corpora built from text already on this machine, none of it written for this project.

Long documents: Debian package documentation under ``/usr/share/doc`` (READMEs, changelogs, copyright files, plain
text, Markdown and reStructuredText, gzip ones unpacked) and the licence files of the installed Python packages.
Files that are not UTF-8, shorter than ``min_chars`` or longer than ``max_chars`` are left out, duplicates (the many
identical GPL texts) are kept once, and ``max_docs`` are taken evenly over the sorted list so every source is
represented. Short texts: the HateCheck test cases (``../shared/eval-data``, CC-BY-4.0, Röttger et al. 2021).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import sysconfig
from collections.abc import Iterator
from pathlib import Path

DOC_ROOT = Path("/usr/share/doc")
_DOC_SUFFIXES = (".txt", ".md", ".rst")
_DOC_NAMES = ("readme", "news", "changelog", "authors", "todo", "copyright", "faq")
_LICENCE_NAMES = ("licen", "copying", "notice", "authors")


def _wanted(path: Path, in_doc_root: bool) -> bool:
    name = path.name.lower()
    if not in_doc_root:  # site-packages: licence files inside *.dist-info
        return ".dist-info" in str(path.parent) and name.startswith(_LICENCE_NAMES)
    stem = name.removesuffix(".gz")
    return stem.endswith(_DOC_SUFFIXES) or stem.startswith(_DOC_NAMES)


def candidate_files() -> Iterator[Path]:
    """Documentation and licence files, in sorted order."""
    for root, in_doc_root in ((DOC_ROOT, True), (Path(sysconfig.get_paths()["purelib"]), False)):
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.is_symlink() and _wanted(path, in_doc_root):
                    yield path


def _read(path: Path) -> str | None:
    try:
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        return raw.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile):
        return None


def build_documents(out: Path, max_docs: int, min_chars: int = 1000, max_chars: int = 65536) -> dict[str, int]:
    """Write ``{"id", "text"}`` JSON lines of up to ``max_docs`` documents; return counts (docs, chars, words)."""
    docs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for path in candidate_files():
        text = _read(path)
        if text is None or not min_chars <= len(text) <= max_chars:
            continue
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            docs.append((str(path), text))
    if len(docs) > max_docs:
        step = len(docs) / max_docs
        docs = [docs[int(i * step)] for i in range(max_docs)]
    with out.open("w", encoding="utf-8") as handle:
        for doc_id, text in docs:
            handle.write(json.dumps({"id": doc_id, "text": text}) + "\n")
    return {
        "docs": len(docs),
        "chars": sum(len(t) for _, t in docs),
        "words": sum(len(t.split()) for _, t in docs),
    }


def build_short(out: Path, hatecheck_csv: Path, limit: int | None = None) -> dict[str, int]:
    """Write the HateCheck cases (``limit``: that many, evenly spaced) as ``{"id", "text"}`` JSON lines; counts."""
    with hatecheck_csv.open(encoding="utf-8", newline="") as handle:
        rows = [(f"hatecheck-{row['case_id']}", row["test_case"]) for row in csv.DictReader(handle)]
    if limit is not None and limit < len(rows):
        rows = [rows[i * len(rows) // limit] for i in range(limit)]
    with out.open("w", encoding="utf-8") as handle:
        for row_id, text in rows:
            handle.write(json.dumps({"id": row_id, "text": text}) + "\n")
    return {"docs": len(rows), "chars": sum(len(t) for _, t in rows), "words": sum(len(t.split()) for _, t in rows)}
