"""Blocklist / lexicon matching: severity and categories, evasions, no Scunthorpe hits, context, languages."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from datahygiene.core.stage import Batch, StageContext
from datahygiene.stages.blocklist import BlocklistParams, BlocklistStage
from datahygiene.stages.lexicon.language import guess_language
from datahygiene.stages.lexicon.normalise import clean_text


@pytest.fixture(scope="module")
def stage() -> BlocklistStage:
    return BlocklistStage(BlocklistParams(), StageContext(offline=True))


@pytest.mark.parametrize("text", ["SHIT happens", "shít", "sh1t", "s h i t", "s.h.i.t", "what a $h!t day", "shit!"])
def test_evasions_match(stage: BlocklistStage, text: str) -> None:
    hits, lists = stage.match(text)
    assert hits == ["shit"]
    assert "surge_ai" in lists


@pytest.mark.parametrize(
    "text", ["Scunthorpe United", "a classic assessment", "cocktail shitake? no: shiitake", "Dickens", "Essex"]
)
def test_no_substring_false_hits(stage: BlocklistStage, text: str) -> None:
    assert stage.match(text) == ([], [])


def test_slur_is_severe_identity_and_sets_the_floor(stage: BlocklistStage) -> None:
    hits = stage.hits("You are nothing but a f@gg0t")
    assert hits.terms == ["faggot"]
    assert hits.severity >= 2.5
    assert "gender_sexuality" in hits.categories
    assert hits.slur
    assert hits.floor


def test_mild_profanity_is_tagged_not_severe(stage: BlocklistStage) -> None:
    hits = stage.hits("this bitch stole my fries, shit")
    assert set(hits.terms) == {"bitch", "shit"}
    assert 1.0 < hits.severity < 2.5
    assert not hits.slur
    assert not hits.floor


def test_a_strong_term_sets_the_floor_without_being_severe(stage: BlocklistStage) -> None:
    hits = stage.hits("shut up, hoe")  # Surge AI severity 2.0: not severe, still floored
    assert 2.0 <= hits.severity < 2.5
    assert not hits.slur
    assert hits.floor
    assert not stage.hits('She wrote "shut up, hoe" and got banned.').floor  # quoted


def test_ambiguous_ordinary_words_count_severity_one_at_most(stage: BlocklistStage) -> None:
    hits = stage.hits("Peter printed 69 sheets for the nonce in the protocol")
    assert {"peter", "69", "nonce"} <= set(hits.terms)
    assert hits.severity <= 1.0
    assert not hits.floor


def test_stubs_of_obfuscated_entries_and_short_keys_count_one_at_most(stage: BlocklistStage) -> None:
    hits = stage.hits("Run it with sh or the shi script in the sm folder.")  # from "sh! +", "shi+" entries
    assert {"sh", "shi"} <= set(hits.terms)
    assert hits.severity <= 1.0
    assert stage.hits("you fag").severity >= 2.5  # an unobfuscated three-letter slur stays severe


def test_self_reference_and_quotation_mitigate_the_floor(stage: BlocklistStage) -> None:
    assert not stage.hits("We call ourselves fags all the time.").floor
    assert not stage.hits('He wrote "you are a retard", so I reported him.').floor
    assert stage.hits("You are a retard.").floor
    assert stage.hits("retards everywhere").floor  # a plural finds its singular entry


def test_tweet_entities_urls_and_handles_are_cleaned() -> None:
    assert clean_text("RT @someuser: this &amp; that http://t.co/abc").split() == ["RT", ":", "this", "&", "that"]


def test_language_guess_by_script_and_function_words() -> None:
    assert guess_language("Du bist ein Arschloch und das ist nicht gut") == "de"
    assert guess_language("Ты сука, это плохо") == "ru"
    assert guess_language("これは日本語の文章です") == "ja"
    assert guess_language("The cat is on the mat and it is not moving") == "en"


def test_the_text_language_list_applies(stage: BlocklistStage) -> None:
    hits = stage.hits("Du bist ein Arschloch und das ist nicht gut")
    assert hits.terms == ["arschloch"]
    assert hits.lists == ["ldnoobw_de"]
    assert hits.categories == ["unrated"]
    assert stage.hits("Arschloch, the word, in an English sentence about the thing").terms == []


def test_process_columns_and_nulls(stage: BlocklistStage) -> None:
    records = pa.RecordBatch.from_pydict(
        {"text": ["clean text", None, "free p0rn here, you n1gger"], "url": [None, "http://x.com/porno", None]}
    )
    out = stage.process(Batch(records=records))
    assert out["blocklist_hits"].to_pylist() == [[], ["porno"], ["porn", "nigger"]]
    assert out["blocklist_lists"].to_pylist()[1] == ["ldnoobw_en"]
    assert "race" in out["blocklist_categories"].to_pylist()[2]
    severity = out["blocklist_severity"].to_pylist()
    assert severity[0] == 0.0
    assert severity[2] == pytest.approx(3.0)


def test_user_file_blocks_by_default_and_takes_severity_columns(tmp_path: Path) -> None:
    path = tmp_path / "brands.txt"
    path.write_text("# user list\nacme corp\nwidget\t1.5\tbrand\n", encoding="utf-8")
    custom = BlocklistStage(BlocklistParams(lists=[], files=[path]), StageContext())
    assert custom.match("Buy from A.C.M.E Corp today") == (["acme corp"], ["brands"])
    assert custom.hits("Buy from A.C.M.E Corp today").severity == 3.0
    assert custom.hits("a widget").severity == 1.5
    assert custom.hits("a widget").categories == ["brand"]
    assert custom.match("acme") == ([], [])


def test_unknown_list_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no shipped list 'nope'"):
        BlocklistStage(BlocklistParams(lists=["nope"]), StageContext())
