"""Rights lists: the RE2 screen never misses a Python match; domains, URLs and list files."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from datahygiene.stages.rights.lists import (
    DoNotTrain,
    PhraseMatcher,
    domain_match,
    list_lines,
    re2_superset,
    shipped_lines,
)
from datahygiene.stages.rights.samples import c2pa_jpeg

TRICKY = [
    "©\u00a02021 Jane",  # no-break space
    "©Éditions Gallimard",  # non-ASCII word character after ©
    "Photo AFP\n",  # Python's $ before a final newline
    "Photo AFP",
    "ÜberAP Photo",
    "(AP Photo/Jane)",
    "Copyright\u20032020 Someone",  # em space
    "copyright: ünïcode owner",
    "REUTERS /Name",
    "all\u2028rights\u2028reserved",
    "getty\u00a0images",
    "gettyimages.com/photo",
    "a plain caption",
    "FOR\tEDITORIAL\tUSE ONLY",
    "(c) 1999",
    "AP Photographer",
]


def _random_texts(count: int) -> list[str]:
    rng = random.Random(7)
    pieces = [*TRICKY, "©", "(c)", "AP", "Photo", "Getty", "Images", "AFP", "/", "via", "\n", " ", "\u00a0", "é"]
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(count)]


@pytest.mark.parametrize("name", ["notices", "agencies"])
def test_screen_never_misses_a_python_match(name: str) -> None:
    matcher = PhraseMatcher(shipped_lines(name))
    assert matcher.unscreened == []  # every shipped entry is screened by RE2
    texts = TRICKY + _random_texts(3000)
    screened = matcher.candidates(pa.array(texts))
    found = np.array([bool(matcher.find(text)) for text in texts])
    assert found.any()
    missed = [text for text, hit, screen in zip(texts, found, screened, strict=True) if hit and not screen]
    assert missed == []
    assert screened.sum() < len(texts)  # and it does screen


def test_unexpressible_regex_makes_every_row_a_candidate() -> None:
    matcher = PhraseMatcher(["re:(?<=photo )by (\\w+) \\1"])
    assert matcher.unscreened
    assert matcher.candidates(pa.array(["x", None])).tolist() == [True, False]
    assert matcher.find("photo by bob bob") == ["by bob bob"]


def test_re2_superset_translation() -> None:
    assert re2_superset(r"\bfoo\b") == "foo"
    assert re2_superset(r"[\w-]+") == r"[\p{L}\p{N}_-]+"
    assert re2_superset(r"[^\W]") is None
    assert re2_superset(r"(?m)^foo$") is None
    assert re2_superset(r"end$") == r"end(?:\n?\z)"


def test_list_lines_and_domains() -> None:
    assert list_lines("# c\n\n a.com  # note\nhttps://x.org/#frag\n") == ["a.com", "https://x.org/#frag"]
    assert domain_match("cdn.media.gettyimages.com", {"gettyimages.com"}) == "gettyimages.com"
    assert domain_match("gettyimages.com.evil.org", {"gettyimages.com"}) is None
    assert domain_match("com", {"com"}) is None  # a bare TLD entry never matches


def test_do_not_train_classifies_lines() -> None:
    listing = DoNotTrain.from_entries(
        [("f", "Example.COM"), ("f", "https://x.org/a/*"), ("f", "http://www.y.org/p/"), ("f", "a" * 64)]
    )
    assert listing.match_url("https://sub.example.com/q") == ("domain example.com", "f")
    assert listing.match_url("https://x.org/a/b/c") == ("url prefix x.org/a*", "f")
    assert listing.match_url("https://y.org/p#top") == ("url https://y.org/p#top", "f")
    assert listing.match_url("https://y.org/p/q") is None
    assert listing.match_content(b"anything") is None
    assert not listing.empty


def test_samples_are_fresh_signatures() -> None:
    first, second = c2pa_jpeg({"c2pa.ai_training": "notAllowed"}), c2pa_jpeg({"c2pa.ai_training": "notAllowed"})
    assert first != second  # a new key and manifest id each time: no recorded fixture
