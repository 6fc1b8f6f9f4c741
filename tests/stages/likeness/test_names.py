"""Person-name finder: names with and without the lexicon's help, capitalised non-names, user files."""

from __future__ import annotations

from pathlib import Path

import pytest

from datahygiene.stages.likeness.names import NameFinder, precision_recall, read_labelled

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def finder() -> NameFinder:
    return NameFinder()


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Taylor Swift performs on stage in Chicago", ["Taylor Swift"]),
        ("John Smith and Mary Johnson at their wedding", ["John Smith", "Mary Johnson"]),
        ("Dr. Jane Goodall speaks", ["Jane Goodall"]),
        ("President Lincoln in 1863", ["Lincoln"]),
        ("Mr. Brown opened the shop", ["Mr. Brown"]),
        ("actor Tom Hanks arrives", ["Tom Hanks"]),
        ("Singer Beyoncé performing", ["Beyoncé"]),
        ("Vincent van Gogh painted it", ["Vincent van Gogh"]),
        ("Martin Luther King Jr. gives a speech", ["Martin Luther King Jr."]),
        ("Kevin O'Brien hosts", ["Kevin O'Brien"]),
        ("Taylor Swift's new album", ["Taylor Swift"]),
        ("Grace Kelly on her wedding day", ["Grace Kelly"]),
    ],
)
def test_names_found(finder: NameFinder, text: str, names: list[str]) -> None:
    assert finder.find(text) == names


@pytest.mark.parametrize(
    "text",
    [
        "A golden retriever playing in the snow",
        "The Jordan River flows into the Dead Sea",
        "April showers bring May flowers",
        "Happy May Day from all of us",
        "Amazing Grace sung by the choir",
        "Will you marry me?",
        "Virginia Beach boardwalk at dawn",
        "Mountain landscape in Yosemite National Park",
        "New York City skyline in December",
        "Wedding photography by Anna Lee Studio",
        "Monday morning in Paris, France",
        "TAYLOR SWIFT IN ALL CAPS IS NOT MATCHED",
        "",
    ],
)
def test_capitalised_non_names(finder: NameFinder, text: str) -> None:
    assert finder.find(text) == []


def test_none_text(finder: NameFinder) -> None:
    assert finder.find(None) == []


def test_punctuation_splits_names(finder: NameFinder) -> None:
    assert finder.find("Photo: John, Smith") == []


def test_user_files_extend_the_lexicon(tmp_path: Path) -> None:
    full = tmp_path / "people.txt"
    full.write_text("# public figures\nXi Jinping\n", encoding="utf-8")
    first = tmp_path / "first.txt"
    first.write_text("Keanu\n", encoding="utf-8")
    stop = tmp_path / "stop.txt"
    stop.write_text("Reeves\n", encoding="utf-8")
    plain = NameFinder()
    assert plain.find("Xi Jinping at the summit") == []
    assert plain.find("Keanu Smith rides") == []
    custom = NameFinder.from_files(first_names=[first], surnames=[], full_names=[full], stop_words=[stop])
    assert custom.find("xi jinping at the summit") == ["xi jinping"]
    assert custom.find("Keanu Smith rides") == ["Keanu Smith"]
    assert custom.find("Keanu Reeves rides") == []


@pytest.mark.parametrize(
    ("file", "precision", "recall"), [("names_eval.tsv", 0.95, 0.85), ("names_heldout.tsv", 0.9, 0.7)]
)
def test_hand_labelled_sets(finder: NameFinder, file: str, precision: float, recall: float) -> None:
    measured = precision_recall(finder, read_labelled(DATA / file))
    assert measured[0] >= precision
    assert measured[1] >= recall


def test_longest_user_name_wins() -> None:
    finder = NameFinder(full_names=["Anna Maria", "Anna Maria Lopez Garcia"])
    assert finder.find("with anna maria lopez garcia today") == ["anna maria lopez garcia"]
    assert finder.find("Anna Maria Hotel") == ["Anna Maria"]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        # sentence-initial words and the pronoun "I" are not names
        ("So I guess that settles it", []),
        ("My Lakers will lose again tonight", []),
        ("Love Bud Harper", ["Bud Harper"]),
        ("Jessica I'm not going", []),
        ("Mark Jones I think you are right", ["Mark Jones"]),
        # a full stop ends a name unless it closes an initial or an abbreviation
        ("We saw Ashton. Hardly anyone came", []),
        ("Report by Ronald J. Martwick and Mary C. Mellyn", ["Ronald J. Martwick", "Mary C. Mellyn"]),
        # brands, teams, places, groups
        ("Candy Corn and Peeps for dessert", []),
        ("The Cleveland Browns lost on Sunday", []),
        ("Irish Music night at the pub", []),
        ("Leon G. Students won the debate", []),
        # titles and headlines with trailing words
        ("Sen. Harry Reid Lists All The Bills", ["Harry Reid"]),
        ("Charlie Crist Leads Rick Scott In Florida Poll", ["Charlie Crist", "Rick Scott"]),
        ("Florida Pro-Life Gov. Rick Scott speaks", ["Rick Scott"]),
        ("Thank you, Captain. It'll never be the same", []),
        ("Hello Mr Nobody, nice work", []),
        ("Mrs Harden called", ["Mrs Harden"]),
        ("actress Sexy Capri Anderson arrives", ["Capri Anderson"]),
        # handles, hashtags, e-mail addresses and URLs are not text
        ("@King_4_Murphy stop that", []),
        ("write to jane.smith@example.com or see www.John-Smith.org", []),
        ("@jane_doe I agree with Tom Hanks", ["Tom Hanks"]),
        ("Justice4MikeBrown trending", []),
        # a first name outside the census lexicon, before a known surname
        ("Keanu Reeves rides a motorcycle", ["Keanu Reeves"]),
    ],
)
def test_informal_text(finder: NameFinder, text: str, names: list[str]) -> None:
    assert finder.find(text) == names
