"""The datasheet questions only a person can answer, and the answers file that fills them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from datahygiene.reports.datasheet.model import Question

#: (id, section, question), after Gebru et al., "Datasheets for Datasets".
QUESTIONS: tuple[tuple[str, str, str], ...] = (
    ("motivation.purpose", "Motivation", "For what purpose was the dataset created? Was there a specific gap to fill?"),
    ("motivation.creators", "Motivation", "Who created the dataset, and on behalf of which entity?"),
    ("motivation.funding", "Motivation", "Who funded the creation of the dataset?"),
    ("composition.instances", "Composition", "What do the instances represent (documents, photos, people, ...)?"),
    ("composition.sampling", "Composition", "Is this a sample of a larger set? If so, how was it sampled?"),
    ("composition.confidential", "Composition", "Might any data be confidential (privileged, medical, private)?"),
    ("composition.people", "Composition", "Can individuals be identified, directly or indirectly?"),
    ("collection.how", "Collection process", "How was the data acquired (crawled, licensed, donated, generated)?"),
    ("collection.who", "Collection process", "Who collected the data, and how were they compensated?"),
    ("collection.timeframe", "Collection process", "Over what timeframe was the data collected?"),
    ("collection.consent", "Collection process", "Were the people in the data notified, and did they consent?"),
    ("collection.ethics_review", "Collection process", "Was an ethical review carried out? With what outcome?"),
    ("preprocessing.raw", "Preprocessing", "Where is the raw, unfiltered input kept, and who can access it?"),
    ("uses.intended", "Uses", "What tasks is the dataset intended for?"),
    ("uses.avoid", "Uses", "What should the dataset not be used for?"),
    ("uses.impact", "Uses", "Could the composition or the filtering harm people or groups when the data is used?"),
    ("distribution.how", "Distribution", "How, and to whom, will the dataset be distributed?"),
    ("distribution.terms", "Distribution", "Under what license or terms of use is it distributed?"),
    ("maintenance.maintainer", "Maintenance", "Who maintains the dataset, and how can they be contacted?"),
    ("maintenance.updates", "Maintenance", "Will the dataset be updated, and how will errors be corrected?"),
)

#: Keys of the ``card`` mapping in the answers file (Hugging Face dataset-card metadata).
CARD_KEYS = ("license", "task_categories", "language", "pretty_name", "tags")


class AnswersError(ValueError):
    """An answers file with unknown keys or values of the wrong shape."""


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name != "card":
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def load_answers(path: Path | None) -> tuple[dict[str, str], dict[str, Any]]:
    """(question id -> answer, card metadata) from a YAML file; nested or dotted keys both work."""
    if path is None:
        return {}, {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise AnswersError(f"{path}: expected a mapping of question ids to answers")
    flat = _flatten(data)
    card = flat.pop("card", None) or {}
    known = {q[0] for q in QUESTIONS}
    unknown = sorted(set(flat) - known)
    if unknown:
        raise AnswersError(f"{path}: unknown question id(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if not isinstance(card, dict) or set(card) - set(CARD_KEYS):
        raise AnswersError(f"{path}: 'card' must be a mapping with keys among {', '.join(CARD_KEYS)}")
    return {key: str(value).strip() for key, value in flat.items() if value is not None}, card


def questions(answers: dict[str, str]) -> list[Question]:
    """Every question, with its answer where one was given."""
    return [Question(id=qid, section=section, text=text, answer=answers.get(qid)) for qid, section, text in QUESTIONS]
