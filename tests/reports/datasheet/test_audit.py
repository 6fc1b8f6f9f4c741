"""Identity-term matching and the disparity arithmetic, on arrays built in the test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from datahygiene.reports.datasheet.audit import (
    AuditCounter,
    IdentityTermsError,
    load_identity_terms,
    mentions,
    term_pattern,
)


def test_matching_is_whole_word_case_insensitive_and_spans_whitespace() -> None:
    text = pa.array(["Women and MEN", "a menu", "womenfolk", "Trans\n  women rally", "lgbtq+ pride", None, "LGBTQ"])
    assert mentions(text, term_pattern(["men"])).tolist() == [True, False, False, False, False, False, False]
    assert mentions(text, term_pattern(["women"])).tolist() == [True, False, False, True, False, False, False]
    assert mentions(text, term_pattern(["trans women"])).tolist() == [False, False, False, True, False, False, False]
    assert mentions(text, term_pattern(["lgbtq+"])).tolist() == [False, False, False, False, True, False, False]
    assert mentions(text, term_pattern(["a.b", "(x)"])).tolist() == [False] * 7  # specials are literal


def test_shipped_lists_cover_the_five_axes() -> None:
    terms = load_identity_terms()
    assert set(terms) >= {"gender", "religion", "ethnicity", "sexuality", "disability"}
    assert all(len(groups) >= 4 for groups in terms.values())


def test_user_lists_add_and_replace_groups(tmp_path: Path) -> None:
    extra = tmp_path / "terms.yaml"
    extra.write_text("age:\n  older: [elderly, pensioner]\nreligion:\n  muslim: [muslimah]\n")
    terms = load_identity_terms(extra)
    assert terms["age"] == {"older": ["elderly", "pensioner"]}
    assert terms["religion"]["muslim"] == ["muslimah"]
    assert "jewish" in terms["religion"]
    extra.write_text("age: [elderly]\n")
    with pytest.raises(IdentityTermsError, match="age"):
        load_identity_terms(extra)


def test_drop_rates_against_the_base_rate() -> None:
    counter = AuditCounter({"g": {"a": ["alpha"], "b": ["beta"]}})
    texts = ["alpha"] * 10 + ["beta"] * 10 + ["plain"] * 20 + [None] * 5
    removed = np.array([True] * 6 + [False] * 4 + [True] * 2 + [False] * 8 + [True] * 4 + [False] * 16 + [True] * 5)
    block = removed.copy()
    block[10:] = False  # the blocklist removed only group a's rows; the rest went for other reasons
    hits = counter.update(pa.array(texts, pa.string()), removed, {"blocklist:*": block})
    assert hits.sum(axis=0).tolist() == [10, 10]
    audit = counter.result(factor=2.0, min_rows=10)
    assert (audit.rows_audited, audit.rows_no_group) == (40, 20)
    a, b = ({c.filter: c for c in g.cells} for g in audit.groups)
    assert a["any"].rate == pytest.approx(0.6)
    assert a["any"].base_rate == pytest.approx(0.2)
    assert a["any"].ratio == pytest.approx(3.0)
    assert a["any"].flagged
    assert b["any"].rate == pytest.approx(0.2)
    assert not b["any"].flagged
    assert a["blocklist:*"].base_rate == 0
    assert a["blocklist:*"].ratio is None
    assert a["blocklist:*"].flagged
    assert not b["blocklist:*"].flagged
    assert [g.rows_kept for g in audit.groups] == [4, 8]
    assert not counter.result(min_rows=11).flagged  # too few mentions to judge
