"""``blocklist``: severity-aware lexicon matching on text, captions and URLs, robust to evasion.

Columns: ``blocklist_hits`` (matched terms, normalised), ``blocklist_lists`` (lists hit, e.g. ``surge_ai``,
``ldnoobw_de``), ``blocklist_categories`` (``race``, ``gender_sexuality``, ``religion``, ``disability``, ``sexual``,
``excrement``, ``insult``, ... ``unrated`` for lists without categories, ``user`` for your files) and
``blocklist_severity`` (float32, the highest counted severity on Surge AI's 1-3 scale, 0 without a hit), so a policy
can reject slurs and severe terms (``blocklist_severity >= 2.5``) while only tagging mild profanity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import Field

from datahygiene.core.registry import register
from datahygiene.core.stage import Batch, StageBase, StageContext, StageParams
from datahygiene.stages.lexicon.index import Hits
from datahygiene.stages.lexicon.lexicon import SHIPPED_LISTS, Lexicon, LexiconSpec
from datahygiene.stages.lexicon.normalise import clean_text, normalise_tokens
from datahygiene.stages.weights import sha256_file

__all__ = ["BlocklistParams", "BlocklistStage", "normalise_tokens"]


class BlocklistParams(StageParams):
    """Shipped lists, languages, user files (and the severity their entries count), matched columns."""

    lists: list[str] = Field(default_factory=lambda: list(SHIPPED_LISTS))
    #: LDNOOBW languages applied besides English; ``null`` guesses each text's language (script, function words).
    languages: list[str] | None = None
    files: list[Path] = Field(default_factory=list)
    #: Severity of an entry of a user file without its own severity column (3: a user list blocks by default).
    file_severity: float = Field(default=3.0, ge=0.0, le=3.0)
    #: Count the shipped ambiguous entries (ordinary words such as ``peter`` or ``nonce``) as severity 1 at most.
    ambiguous: bool = True
    columns: list[str] = Field(default_factory=lambda: ["text", "url"])


@register("blocklist")
class BlocklistStage(StageBase[BlocklistParams]):
    """Adds ``blocklist_hits``, ``blocklist_lists``, ``blocklist_categories`` and ``blocklist_severity``."""

    needs_full_image: ClassVar[bool] = False  # reads text (and image bytes), never pixels

    Params: ClassVar[type[StageParams]] = BlocklistParams

    def __init__(self, params: StageParams, context: StageContext) -> None:
        super().__init__(params, context)
        spec = LexiconSpec(
            lists=self.params.lists,
            languages=self.params.languages,
            files=self.params.files,
            file_severity=self.params.file_severity,
            ambiguous=self.params.ambiguous,
        )
        self.lexicon = Lexicon(spec)

    def output_schema(self) -> pa.Schema:
        """Three list<string> columns and the float32 severity."""
        strings = pa.list_(pa.string())
        return pa.schema(
            [
                ("blocklist_hits", strings),
                ("blocklist_lists", strings),
                ("blocklist_categories", strings),
                ("blocklist_severity", pa.float32()),
            ]
        )

    def hits(self, text: str) -> Hits:
        """Everything one string matched."""
        return self.lexicon.match(text)

    def match(self, text: str) -> tuple[list[str], list[str]]:
        """Matched terms and the names of the lists they come from, for one string."""
        found = self.lexicon.match(text)
        return found.terms, found.lists

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """Match every configured column of every row; empty lists and severity 0 where nothing matched."""
        columns = [batch.column(name) for name in self.params.columns]
        values = [col.to_pylist() if col is not None else [None] * batch.num_rows for col in columns]
        is_url = [name == "url" for name in self.params.columns]
        rows: list[Hits] = []
        for row in zip(*values, strict=True) if values else [()] * batch.num_rows:
            parts = [v if url else clean_text(v) for v, url in zip(row, is_url, strict=True) if isinstance(v, str)]
            text = " | ".join(parts)
            rows.append(self.lexicon.match(text, clean=False) if text else Hits())
        strings = pa.list_(pa.string())
        return {
            "blocklist_hits": pa.array([h.terms for h in rows], strings),
            "blocklist_lists": pa.array([h.lists for h in rows], strings),
            "blocklist_categories": pa.array([h.categories for h in rows], strings),
            "blocklist_severity": pa.array([h.severity for h in rows], pa.float32()),
        }

    def describe(self) -> dict[str, Any]:
        """Lexicons (with licences), entry counts per list, and the sha256 of every file loaded."""
        return {
            "name": self.name,
            "version": self.version,
            "model": (
                "lexicons: Surge AI profanity_en (MIT), LDNOOBW (CC-BY-4.0), datahygiene lists (CC0); inflections "
                "spare SCOWL's everyday words (SCOWL licence)"
            ),
            "lists": dict(sorted(self.lexicon.counts.items())),
            "languages": self.params.languages or "guessed per text (script, function words); English always",
            "files": {str(path): sha256_file(path) for path in self.lexicon.sources},
        }
