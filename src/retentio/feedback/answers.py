"""An answer checked against its survey, and what a score means: the NPS category, whether a
CSAT score is satisfied, and the NPS and CSAT of a set of scores. Pure: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from retentio.analytics.feedback import DETRACTOR_MAX, PROMOTER_MIN, SATISFIED_MIN
from retentio.core.errors import DataError
from retentio.feedback.surveys import Question, SurveyDefinition

__all__ = [
    "COMMENT_LENGTH",
    "AnswerError",
    "CheckedAnswer",
    "check_answer",
    "csat_score",
    "is_satisfied",
    "nps_category",
    "nps_score",
    "score_properties",
]

#: The longest comment kept, in characters.
COMMENT_LENGTH = 2000


class AnswerError(DataError):
    """An answer its survey cannot take; ``field`` names what is wrong (``score``,
    ``answers.reason``, ``comment``). Nothing is recorded."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True, slots=True)
class CheckedAnswer:
    """An answer as it is stored: the score, the answers by question id, the comment."""

    score: int | None
    answers: dict[str, Any]
    comment: str | None


def nps_category(score: int) -> str:
    """``promoter`` (9-10), ``passive`` (7-8) or ``detractor`` (0-6)."""
    if score >= PROMOTER_MIN:
        return "promoter"
    return "detractor" if score <= DETRACTOR_MAX else "passive"


def is_satisfied(score: int) -> bool:
    """Whether a CSAT score (1-5) counts as satisfied (4 or 5)."""
    return score >= SATISFIED_MIN


def nps_score(scores: Iterable[int]) -> float | None:
    """100 * (promoters - detractors) / answers, from -100 to 100; None without answers."""
    given = list(scores)
    if not given:
        return None
    categories = [nps_category(s) for s in given]
    return 100.0 * (categories.count("promoter") - categories.count("detractor")) / len(given)


def csat_score(scores: Iterable[int]) -> float | None:
    """The share of satisfied answers (4-5) in per cent; None without answers."""
    given = list(scores)
    if not given:
        return None
    return 100.0 * sum(is_satisfied(s) for s in given) / len(given)


def score_properties(kind: str, score: int | None) -> dict[str, Any]:
    """What a score says, for the ``survey_answered`` event: ``category`` of an NPS score,
    ``satisfied`` of a CSAT score."""
    if score is None:
        return {}
    if kind == "nps":
        return {"category": nps_category(score)}
    if kind == "csat":
        return {"satisfied": is_satisfied(score)}
    return {}


def _text(value: Any, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise AnswerError(field, "text")
    stripped = value.strip()
    if len(stripped) > limit:
        raise AnswerError(field, f"at most {limit} characters, not {len(stripped)}")
    if "\x00" in stripped:
        raise AnswerError(field, "no NUL characters")
    return stripped or None


def _score(definition: SurveyDefinition, score: Any) -> int | None:
    bounds = definition.score_range
    if bounds is None:
        if score is not None:
            raise AnswerError("score", f"a {definition.kind} survey takes no score")
        return None
    low, high = bounds
    what = f"a whole number from {low} to {high} ({definition.kind.upper()})"
    if score is None:
        raise AnswerError("score", f"required: {what}")
    if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
        raise AnswerError("score", f"{what}, not {score!r}")
    return score


def _answer(question: Question, value: Any) -> Any:
    field = f"answers.{question.id}"
    if question.type == "scale":
        if isinstance(value, bool) or not isinstance(value, int):
            raise AnswerError(field, f"a whole number from {question.low} to {question.high}")
        if not question.low <= value <= question.high:
            raise AnswerError(field, f"from {question.low} to {question.high}, not {value}")
        return value
    if question.type == "text":
        return _text(value, field, question.max_length)
    chosen = value if isinstance(value, list) else [value]
    if not question.multiple and isinstance(value, list):
        raise AnswerError(field, "one option (not a list)")
    known = [o.id for o in question.options]
    for option in chosen:
        if not isinstance(option, str) or option not in known:
            raise AnswerError(field, f"one of {', '.join(known)}, not {option!r}")
    if len(set(chosen)) != len(chosen):
        raise AnswerError(field, "each option once")
    return sorted(chosen, key=known.index) if question.multiple else chosen[0]


def check_answer(
    definition: SurveyDefinition,
    score: Any,
    answers: Mapping[str, Any] | None,
    comment: Any,
) -> CheckedAnswer:
    """The answer as stored, or an :class:`AnswerError` naming the first problem: a score in
    the survey's range (NPS 0-10, CSAT 1-5, none for custom), answers to its questions only
    (each of its type; the required ones given), a comment of at most 2,000 characters."""
    checked_score = _score(definition, score)
    given = dict(answers or {})
    for question_id in sorted(given):
        if definition.find(str(question_id)) is None:
            known = ", ".join(q.id for q in definition.questions) or "none"
            raise AnswerError(f"answers.{question_id}", f"no such question (known: {known})")
    checked: dict[str, Any] = {}
    for question in definition.questions:
        value = given.get(question.id)
        value = None if value in ("", []) else value
        if value is not None:
            value = _answer(question, value)
        if value is None:
            if question.required:
                raise AnswerError(f"answers.{question.id}", "required")
            continue
        checked[question.id] = value
    comment_text = _text(comment, "comment", COMMENT_LENGTH)
    if definition.kind == "custom" and not checked and comment_text is None:
        raise AnswerError("answers", "answer one question at least")
    if comment_text is not None and definition.comment is None:
        raise AnswerError("comment", f"survey {definition.name!r} takes no comment")
    return CheckedAnswer(checked_score, checked, comment_text)
