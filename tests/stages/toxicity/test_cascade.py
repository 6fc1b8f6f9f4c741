"""The scoring cascade and the combination, with the real packaged MiniLM and the shipped models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.lexicon.index import Hits
from datahygiene.stages.toxicity.cascade import pack_windows, sentence_spans
from datahygiene.stages.toxicity.combine import FEATURES, Combiner
from datahygiene.stages.toxicity.embedding import EmbeddingParams, EmbeddingToxicityStage

NEUTRAL = [
    "The package installs its configuration files under the system directory.",
    "Each release lists the changes made since the previous version.",
    "Run the test suite before you submit a patch to the maintainers.",
    "The library reads compressed archives and writes plain text reports.",
    "Our volunteers meet every Tuesday to review the translations.",
    "Bug reports should include the version number and a short example.",
    "The documentation explains how to build the project from source.",
    "Muslims, Christians and Jews in the town organised a joint charity run.",
]
HATEFUL = "Immigrants are vermin and should be wiped out."


def _run(stage: EmbeddingToxicityStage, texts: Sequence[str | None]) -> dict[str, list[Any]]:
    out = stage.process(Batch(records=pa.RecordBatch.from_pydict({"text": texts})))
    return {name: column.to_pylist() for name, column in out.items()}


@pytest.fixture(scope="module")
def stage() -> EmbeddingToxicityStage:
    return EmbeddingToxicityStage(EmbeddingParams(batch_size=16), StageContext(offline=True, device="cpu"))


def test_sentence_spans_and_windows_cover_the_text_with_one_sentence_overlap() -> None:
    text = "One two three four.  Five six seven eight?\n\nNine ten eleven twelve! " + "x" * 30
    spans = sentence_spans(text, 30)
    expected = ["One two three four.", "Five six seven eight?", "Nine ten eleven twelve!", "x" * 30]
    assert [text[a:b] for a, b in spans] == expected
    assert pack_windows(spans, 48) == [(0, 2), (1, 3), (3, 4)]  # overlap where two sentences fit
    assert pack_windows(spans, 1000) == [(0, 4)]


def test_sentences_ignore_wrapped_lines_and_join_fragments() -> None:
    text = (
        "This text is hard\nwrapped at line ends\nlike a README. These\nare them.\n- a list item here\n"
        "- and one more item"
    )
    spans = sentence_spans(text, 1000)
    assert [text[a:b] for a, b in spans] == [
        "This text is hard\nwrapped at line ends\nlike a README.",
        "These\nare them.\n- a list item here",  # three words alone: joined to the next sentence
        "- and one more item",
    ]
    assert sentence_spans("them.", 1000) == [(0, 5)]


def test_a_fragment_alone_is_not_trusted_beyond_the_cap(stage: EmbeddingToxicityStage) -> None:
    out = _run(stage, ["These", "them.", "f@gg0t"])
    assert max(out["toxicity"][:2]) <= 0.5
    assert out["toxicity"][2] > 0.8  # the lexicon floor still applies to a short text


def test_a_slur_in_an_otherwise_mild_text_is_rejected(stage: EmbeddingToxicityStage) -> None:
    out = _run(stage, ["lol that game last night, you f@gg0t", "lol that game last night, you rascal"])
    assert out["toxicity"][0] > 0.8
    assert out["toxicity"][1] < 0.8
    assert any("faggot" in line for line in out["toxicity_evidence"][0])


def test_a_strong_term_is_rejected_and_an_ambiguous_word_alone_is_not(stage: EmbeddingToxicityStage) -> None:
    mild = "lol that game last night was fun, you dumb hoe"  # "hoe": Surge AI severity 2.0, below "severe"
    ambiguous = "The homo sapiens skull was found in a cave near the river."  # "homo": on the ambiguous list
    out = _run(stage, [mild, ambiguous])
    assert out["toxicity"][0] > 0.8
    assert any("hoe" in line for line in out["toxicity_evidence"][0])
    assert out["toxicity"][1] < 0.8


def test_a_neutral_sentence_naming_groups_is_kept(stage: EmbeddingToxicityStage) -> None:
    out = _run(stage, [NEUTRAL[-1], "Black and white residents voted together on the new school budget."])
    assert max(out["toxicity"]) < 0.8


def test_a_toxic_sentence_deep_in_a_long_document_is_found_and_pointed_at(stage: EmbeddingToxicityStage) -> None:
    body = [NEUTRAL[i % 7] for i in range(60)]
    body.insert(45, HATEFUL)
    document = " ".join(body)
    out = _run(stage, [document, " ".join(NEUTRAL[:7] * 8), None])
    assert out["toxicity"][0] > 0.8
    assert out["toxicity"][1] < 0.5
    assert out["toxicity"][2] is None
    assert out["tox_tier"][2] is None
    start = document.index(HATEFUL)
    evidence = out["toxicity_evidence"][0]
    top = next(line for line in evidence if line.startswith("top: "))
    span = top.split(" chars ")[1].split(" ")[0]
    first, last = (int(v) for v in span.split("-"))
    assert first <= start < last
    assert out["tox_window"][0] > 0
    assert out["tox_tier"][0] in {"transformer", "lexicon"}
    pieces = int(evidence[1].split("transformer pieces: ")[1].split(";")[0])
    windows = int(evidence[1].split("windows: ")[1].split(";")[0])
    assert pieces < windows + len(body)  # the cascade did not score everything


def test_cascade_and_exhaustive_agree_on_these_rows(stage: EmbeddingToxicityStage) -> None:
    full = EmbeddingToxicityStage(EmbeddingParams(exhaustive=True), StageContext(offline=True, device="cpu"))
    texts = [" ".join(NEUTRAL * 3), " ".join([*NEUTRAL, HATEFUL, *NEUTRAL]), HATEFUL, NEUTRAL[0]]
    cascade = np.array(_run(stage, texts)["toxicity"]) > 0.8
    reference = np.array(_run(full, texts)["toxicity"]) > 0.8
    assert cascade.tolist() == reference.tolist() == [False, True, True, False]


def test_combiner_round_trip_and_monotone_in_severity(tmp_path: Path) -> None:
    combiner = Combiner(coef=np.array([1.0, 0.5, 2.0, 1.0, 1.0, 1.0, 0.2, 0.1]), intercept=-1.0, scale=1.0, shift=0.0)
    path = tmp_path / "c.json"
    combiner.save(path)
    loaded = Combiner.load(path)
    assert loaded.coef.tolist() == combiner.coef.tolist()
    mild, severe = Hits(severity=1.2, categories=["sexual"]), Hits(severity=3.0, categories=["race"], slur=True)
    scores = loaded.score(np.zeros(2), np.zeros(2), [mild, severe])
    assert scores[1] > scores[0]
    path.write_text(path.read_text().replace(FEATURES[0], "other"))
    with pytest.raises(ValueError, match="features"):
        Combiner.load(path)
