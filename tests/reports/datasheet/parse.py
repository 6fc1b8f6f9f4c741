"""Read numbers back out of the rendered documents, so tests compare what a reader sees."""

from __future__ import annotations

import re
from typing import Any

import yaml


def md_table(text: str, header: str) -> dict[str, list[str]]:
    """First cell -> other cells of the first Markdown table whose header line starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.setdefault(cells[0], cells[1:])
    return rows


def integer(cell: str) -> int:
    """``1,234`` -> 1234."""
    return int(cell.replace(",", ""))


def card_header(text: str) -> dict[str, Any]:
    """The YAML front matter of a dataset card."""
    match = re.match(r"^---\n(.*?)\n---\n", text, re.DOTALL)
    assert match is not None, "README.md does not start with a YAML header"
    header = yaml.safe_load(match.group(1))
    assert isinstance(header, dict)
    return header


def html_counts(text: str) -> dict[str, int]:
    """The summary table of datasheet.html: label -> rows."""
    section = text[text.index('<section id="summary">') :]
    section = section[: section.index("</section>")]
    return {
        label: integer(rows) for label, rows in re.findall(r'<tr><td>([^<]+)</td><td class="n">([\d,]+)</td>', section)
    }
