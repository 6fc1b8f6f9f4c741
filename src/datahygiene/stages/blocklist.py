"""``blocklist``: whole-word term and phrase matching on text, captions and URLs, robust to evasion."""

from __future__ import annotations

import re
import unicodedata
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import Field

from datahygiene.core.registry import register
from datahygiene.core.stage import Batch, StageBase, StageContext, StageParams

_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "i",
        "+": "t",
    }
)
_TOKEN = re.compile(r"[a-z0-9@$!|+]+")
SHIPPED_LISTS: tuple[str, ...] = ("profanity", "sexual")


def normalise_tokens(text: str) -> list[str]:
    """Lower-case, strip accents, undo leetspeak and re-join letters split by spaces or symbols."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    raw = _TOKEN.findall(folded)
    tokens: list[str] = []
    run: list[str] = []
    for token in raw:
        if len(token) == 1:
            run.append(token)
            continue
        if run:
            tokens.append("".join(run))
            run = []
        tokens.append(token)
    if run:
        tokens.append("".join(run))
    return [token.translate(_LEET) for token in tokens]


def load_terms(lines: list[str]) -> list[tuple[str, ...]]:
    """Parse a list file's lines (``#`` comments, blank lines ignored) into normalised token tuples."""
    terms: list[tuple[str, ...]] = []
    for line in lines:
        stripped = line.split("#", 1)[0].strip()
        if stripped:
            terms.append(tuple(normalise_tokens(stripped)))
    return terms


class BlocklistParams(StageParams):
    """Which shipped lists and user files to match, and on which columns."""

    lists: list[str] = Field(default_factory=lambda: list(SHIPPED_LISTS))
    files: list[Path] = Field(default_factory=list)
    columns: list[str] = Field(default_factory=lambda: ["text", "url"])


@register("blocklist")
class BlocklistStage(StageBase[BlocklistParams]):
    """Adds ``blocklist_hits`` (matched terms) and ``blocklist_lists`` (names of lists hit)."""

    needs_full_image: ClassVar[bool] = False  # reads text (and image bytes), never pixels

    Params: ClassVar[type[StageParams]] = BlocklistParams

    def __init__(self, params: StageParams, context: StageContext) -> None:
        super().__init__(params, context)
        self.lists: dict[str, dict[tuple[str, ...], str]] = {}
        root = resources.files("datahygiene.data.blocklists")
        for name in self.params.lists:
            lines = root.joinpath(f"{name}.txt").read_text(encoding="utf-8").splitlines()
            self._add(name, lines)
        for path in self.params.files:
            self._add(path.stem, path.read_text(encoding="utf-8").splitlines())

    def _add(self, name: str, lines: list[str]) -> None:
        entries = self.lists.setdefault(name, {})
        for line, term in zip((ln for ln in lines if ln.split("#", 1)[0].strip()), load_terms(lines), strict=True):
            if term:
                entries[term] = line.split("#", 1)[0].strip()

    def output_schema(self) -> pa.Schema:
        """Two list<string> columns."""
        return pa.schema([("blocklist_hits", pa.list_(pa.string())), ("blocklist_lists", pa.list_(pa.string()))])

    def match(self, text: str) -> tuple[list[str], list[str]]:
        """Matched terms and the names of the lists they come from, for one string."""
        tokens = normalise_tokens(text)
        joined = " " + " ".join(tokens) + " "
        hits: list[str] = []
        names: list[str] = []
        for list_name, terms in self.lists.items():
            for term, original in terms.items():
                if " " + " ".join(term) + " " in joined:
                    if original not in hits:
                        hits.append(original)
                    if list_name not in names:
                        names.append(list_name)
        return hits, names

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """Match every configured column of every row; empty lists where nothing matched or no value."""
        columns = [batch.column(name) for name in self.params.columns]
        values = [col.to_pylist() if col is not None else [None] * batch.num_rows for col in columns]
        all_hits: list[list[str]] = []
        all_lists: list[list[str]] = []
        for row in zip(*values, strict=True) if values else [()] * batch.num_rows:
            text = " | ".join(v for v in row if isinstance(v, str))
            hits, names = self.match(text) if text else ([], [])
            all_hits.append(hits)
            all_lists.append(names)
        return {
            "blocklist_hits": pa.array(all_hits, pa.list_(pa.string())),
            "blocklist_lists": pa.array(all_lists, pa.list_(pa.string())),
        }

    def describe(self) -> dict[str, Any]:
        """List names and term counts."""
        return {"name": self.name, "version": self.version, "lists": {k: len(v) for k, v in self.lists.items()}}
