"""Lexicon matching of real short-post spellings: elongation, inflection, camel-case joins, starred-out letters."""

from __future__ import annotations

import pytest

from datahygiene.stages.lexicon.lexicon import Lexicon, LexiconSpec
from datahygiene.stages.lexicon.normalise import camel_parts, starred_words, stems, unelongated


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon(LexiconSpec())


def test_unelongated_cuts_runs_of_three_or_more() -> None:
    assert unelongated("biiiitch") == ["bitch", "biitch"]
    assert unelongated("nigggaaa") == ["nigga", "niga", "niggaa"]
    assert unelongated("fuckkk") == ["fuckk", "fuck"]
    assert unelongated("bitch") == []
    assert unelongated("coffee") == []  # doubled letters are spelling, not elongation


def test_stems_of_inflections_keep_four_letters() -> None:
    assert "tranny" in stems("trannies")
    assert {"dyk", "dyke"} & set(stems("dykes"))
    assert "suck" in stems("sucking")
    assert "fucc" in stems("fuccin")
    assert stems("cumin") == []  # "cum" + "in" would leave three letters
    assert stems("hoes") == []


def test_camel_parts_and_starred_words() -> None:
    assert camel_parts("lol #TurnThatShitUpLouder now") == [["turn", "that", "shit", "up", "louder"]]
    assert camel_parts("all lower case, ALL CAPS, Title Case") == []
    assert starred_words("you f*cking n*****r, s**t") == ["f*cking", "n*****r", "s**t"]
    assert starred_words("footnote* and 5*3 and *bold*") == []


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("biiiitch please", "bitch"),
        ("niggaaaa", "nigga"),
        ("ffffffffuck off", "fuck off"),  # the un-elongated token starts a two-token entry
        ("those dykes", "dyke"),
        ("shut up you fuccin idiot", "fucc"),
        ("trannies everywhere", "tranny"),
        ("sucking up again", "suck"),
        ("lmao #TurnThatShitUpLouder", "shit"),
        ("you f*cking idiot", "fucking"),
    ],
)
def test_real_post_spellings_find_their_entry(lexicon: Lexicon, text: str, term: str) -> None:
    assert term in lexicon.match(text).terms


@pytest.mark.parametrize(
    "text",
    [
        "the punch was spiked",  # spik + ed, but "spike" is an everyday word
        "we assess the classes",  # assess is not asses + s
        "a pinch of cumin",
        "fingers crossed, see you at Scunthorpe",
        "turn on the iPhone at McDonalds",  # camel-case joins of ordinary words
        "rated 5*3 stars, footnote* applies",
    ],
)
def test_variants_add_no_hits_on_ordinary_words(lexicon: Lexicon, text: str) -> None:
    hits = lexicon.match(text)
    assert hits.severity <= 1.0, hits.terms
    assert not hits.floor


def test_elongated_slur_sets_the_floor_and_starred_letters_take_the_mildest_reading(lexicon: Lexicon) -> None:
    assert lexicon.match("bitch ass nigggaaa").floor
    mild = lexicon.match("oh s**t")
    assert mild.terms
    assert mild.severity < 2.0  # several entries fit s**t: the least severe counts


def test_self_reference_needs_the_self_word_before_the_term(lexicon: Lexicon) -> None:
    assert not lexicon.match("me and my nigga").floor
    assert not lexicon.match("I call myself faggot all the time").floor
    assert not lexicon.match("faggot myself, and proud").floor  # a reflexive after still counts
    assert lexicon.match("nigga I was there at 5").floor  # "I" after the term opens a new clause
    assert lexicon.match("hoe I told you so").floor  # Surge AI files hoe under gender too
    assert not lexicon.match("Fuck, I missed the bus again.").floor  # not a slur: the wider window stays
    assert not lexicon.match("I'm a fag, I can say it").floor  # "I'm a" re-joins to "ima"
    assert not lexicon.match("Fags like me are out there").floor
    assert not lexicon.match("a faggot and proud!").floor
    assert lexicon.match("fags like them").floor
