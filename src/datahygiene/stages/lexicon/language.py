"""Cheap language guess for choosing lexicons: the script of the letters, else common function words."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+")
#: Ten frequent function words per language (Latin script), written for this purpose.
STOPWORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "the and is are to of you that it not with this",
        "de": "und der die das nicht ist ich mit sie ein auch",
        "fr": "le la les et est pas une des je pour avec",
        "es": "el los las que y es por una con para pero",
        "it": "il che non di una per sono della gli con anche",
        "nl": "het een en van niet ik dat zijn maar ook",
        "pt": "não que uma os para com você mais por isso",
        "sv": "och att det som är inte jag för med har",
        "da": "og det at er ikke jeg til med som har",
        "no": "og det er ikke jeg til med som på har",
        "fi": "ja on ei että se mutta ole kuin minä tämä",
        "pl": "nie się że to jest na jak co tak ale",
        "cs": "je se že to na ne jsem jak ale tak",
        "hu": "az és nem hogy egy is van meg volt csak",
        "tr": "ve bir bu da için ne ile çok değil ama",
        "hi": "hai nahi kya ke ki mein aur tum yeh ko",
        "fil": "ang ng sa mga na ay hindi ko ako siya",
    }.items()
}
_LANGS_OF: dict[str, tuple[str, ...]] = {}
for _lang, _words in STOPWORDS.items():
    for _word in _words:
        _LANGS_OF[_word] = (*_LANGS_OF.get(_word, ()), _lang)
_SCRIPTS = (
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("fa", re.compile(r"[\u067e\u0686\u0698\u06af\u06cc]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
)


def guess_language(text: str, sample: int = 2000) -> str:
    """``en`` unless the sample's letters or function words point clearly at another language."""
    head = text[:sample]
    if not head.isascii():
        letters = sum(ch.isalpha() for ch in head) or 1
        for lang, pattern in _SCRIPTS:
            if len(pattern.findall(head)) * 5 >= letters:
                return lang
    counts: dict[str, int] = {}
    for word in _WORD.findall(head.casefold()):
        for lang in _LANGS_OF.get(word, ()):
            counts[lang] = counts.get(lang, 0) + 1
    if not counts:
        return "en"
    best = max(counts, key=lambda lang: counts[lang])
    if best != "en" and counts[best] >= 2 and counts[best] > counts.get("en", 0):
        return best
    return "en"
