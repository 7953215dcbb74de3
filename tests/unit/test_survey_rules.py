"""Survey definitions and answers: what is accepted, what is refused (by name), what a score
means, and the signed links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from retentio.core.clock import FixedClock
from retentio.core.signing import Signer, TokenError
from retentio.feedback import (
    AnswerError,
    SurveyError,
    check_answer,
    csat_score,
    is_satisfied,
    nps_category,
    nps_score,
    parse_survey,
    read_survey_token,
    score_links,
    score_properties,
    survey_link,
    survey_token,
)

CUSTOM = {
    "name": "after-delivery",
    "kind": "custom",
    "default_locale": "da",
    "throttle_days": 30,
    "questions": [
        {
            "id": "reason",
            "type": "choice",
            "text": {"da": "Hvad betød mest?", "en": "What mattered most?"},
            "options": [{"id": "price", "text": {"da": "Pris", "en": "Price"}}, "quality"],
            "required": True,
        },
        {
            "id": "topics",
            "type": "choice",
            "multiple": True,
            "text": "Emner",
            "options": ["a", "b", "c"],
        },
        {"id": "effort", "type": "scale", "min": 1, "max": 7, "text": "Hvor let var det?"},
        {"id": "note", "type": "text", "max_length": 20, "text": "Andet?"},
    ],
}


def test_an_nps_survey_needs_a_name_and_a_kind_only() -> None:
    survey = parse_survey({"name": "nps", "kind": "nps"})
    assert survey.throttle_days == 90 and survey.default_locale == "en"
    assert survey.score_range == (0, 10)
    assert survey.question is not None
    assert survey.question.get("da-DK").startswith("Hvor sandsynligt")
    assert survey.question.get("nl").startswith("Hoe waarschijnlijk")
    assert survey.question.get("de").startswith("How likely")  # the default locale's
    assert survey.comment is not None and survey.thanks is not None
    assert parse_survey({"name": "c", "kind": "csat"}).score_range == (1, 5)


def test_own_texts_and_questions() -> None:
    survey = parse_survey(CUSTOM)
    assert survey.score_range is None and survey.question is None
    assert [q.id for q in survey.questions] == ["reason", "topics", "effort", "note"]
    reason = survey.questions[0]
    assert reason.text.get("en") == "What mattered most?"
    assert reason.text.get(None) == "Hvad betød mest?"
    assert [o.id for o in reason.options] == ["price", "quality"]
    assert reason.options[1].text.get("en") == "quality"
    assert (survey.questions[2].low, survey.questions[2].high) == (1, 7)
    nps = parse_survey({"name": "n", "kind": "nps", "question": "Would you?", "comment": False})
    assert nps.question is not None and nps.question.get("da") == "Would you?"
    assert nps.comment is None


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"kind": "poll"}, "kind", "one of nps, csat, custom"),
        ({"name": "1st"}, "name", "a letter"),
        ({"colour": "red"}, "colour", "unknown key"),
        ({"throttle_days": -1}, "throttle_days", "0 (no limit)"),
        ({"throttle_days": True}, "throttle_days", "whole days"),
        ({"default_locale": "EN"}, "default_locale", "a locale"),
        ({"questions": []}, "questions", "one question at least"),
        ({"question": "Why?"}, "question", "no score question"),
        ({"questions": [{"id": "x", "type": "poll", "text": "?"}]}, "questions[0].type", "one of"),
        ({"questions": [{"id": "x", "type": "text"}]}, "questions[0].text", "required"),
        (
            {"questions": [{"id": "x", "type": "text", "text": {"en": "?"}}]},
            "questions[0].text",
            "default locale, da",
        ),
        (
            {"questions": [{"id": "x", "type": "scale", "min": 5, "max": 5, "text": "?"}]},
            "questions[0].max",
            "above min",
        ),
        (
            {"questions": [{"id": "x", "type": "scale", "options": ["a", "b"], "text": "?"}]},
            "questions[0].options",
            "not for a scale question",
        ),
        (
            {"questions": [{"id": "x", "type": "choice", "options": ["a"], "text": "?"}]},
            "questions[0].options",
            "2 to 50 options",
        ),
        (
            {"questions": [{"id": "x", "type": "choice", "options": ["a", "a"], "text": "?"}]},
            "questions[0].options[1].id",
            "used twice",
        ),
        (
            {"questions": [{"id": "x", "type": "text", "text": "?"}] * 2},
            "questions[1].id",
            "used twice",
        ),
        (
            {"questions": [{"id": "x", "type": "text", "text": {"da": ""}}]},
            "questions[0].text.da",
            "not empty",
        ),
    ],
)
def test_definition_errors_name_the_path(change: dict[str, object], path: str, words: str) -> None:
    with pytest.raises(SurveyError) as caught:
        parse_survey(CUSTOM | change)
    assert caught.value.path == path
    assert words in caught.value.reason


def test_a_language_without_built_in_texts_must_give_the_question() -> None:
    with pytest.raises(SurveyError, match="question: give the question in de"):
        parse_survey({"name": "n", "kind": "nps", "default_locale": "de"})
    parse_survey({"name": "n", "kind": "nps", "default_locale": "de", "question": "Würden Sie?"})


def test_nps_arithmetic() -> None:
    assert [nps_category(s) for s in range(11)] == ["detractor"] * 7 + ["passive"] * 2 + [
        "promoter"
    ] * 2
    # 3 promoters, 1 passive, 2 detractors of 6: 100 * (3 - 2) / 6
    assert nps_score([10, 9, 9, 8, 6, 0]) == pytest.approx(100 / 6)
    assert nps_score([]) is None
    assert [is_satisfied(s) for s in range(1, 6)] == [False, False, False, True, True]
    assert csat_score([5, 4, 3, 1]) == pytest.approx(50.0)
    assert score_properties("nps", 6) == {"category": "detractor"}
    assert score_properties("csat", 4) == {"satisfied": True}
    assert score_properties("custom", None) == {}


def test_answers_are_checked_against_the_survey() -> None:
    nps = parse_survey({"name": "n", "kind": "nps"})
    assert check_answer(nps, 9, None, "  Great  ").comment == "Great"
    assert check_answer(nps, 0, {}, "").comment is None
    custom = parse_survey(CUSTOM)
    checked = check_answer(
        custom, None, {"reason": "price", "topics": ["c", "a"], "effort": 7, "note": ""}, None
    )
    assert checked.answers == {"reason": "price", "topics": ["a", "c"], "effort": 7}
    assert checked.score is None


@pytest.mark.parametrize(
    ("score", "answers", "comment", "field", "words"),
    [
        (11, {}, None, "score", "a whole number from 0 to 10 (NPS), not 11"),
        (None, {}, None, "score", "required"),
        (True, {}, None, "score", "not True"),
        ("9", {}, None, "score", "not '9'"),
        (9, {"why": "x"}, None, "answers.why", "no such question"),
        (9, {}, "x" * 2001, "comment", "at most 2000 characters"),
        (9, {}, "a\x00b", "comment", "no NUL"),
        (9, {}, 5, "comment", "text"),
    ],
)
def test_bad_nps_answers_name_the_field(
    score: object, answers: dict[str, object], comment: object, field: str, words: str
) -> None:
    nps = parse_survey({"name": "n", "kind": "nps"})
    with pytest.raises(AnswerError) as caught:
        check_answer(nps, score, answers, comment)
    assert caught.value.field == field
    assert words in caught.value.reason


@pytest.mark.parametrize(
    ("answers", "field", "words"),
    [
        ({}, "answers.reason", "required"),
        ({"reason": "colour"}, "answers.reason", "one of price, quality"),
        ({"reason": ["price"]}, "answers.reason", "one option"),
        ({"reason": "price", "topics": ["a", "a"]}, "answers.topics", "each option once"),
        ({"reason": "price", "effort": 8}, "answers.effort", "from 1 to 7, not 8"),
        ({"reason": "price", "effort": 2.5}, "answers.effort", "a whole number"),
        ({"reason": "price", "note": "x" * 21}, "answers.note", "at most 20"),
    ],
)
def test_bad_custom_answers_name_the_field(
    answers: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(AnswerError) as caught:
        check_answer(parse_survey(CUSTOM), None, answers, None)
    assert caught.value.field == field
    assert words in caught.value.reason
    with pytest.raises(AnswerError, match="score: a custom survey takes no score"):
        check_answer(parse_survey(CUSTOM), 5, {"reason": "price"}, None)
    no_comment = parse_survey({"name": "n", "kind": "nps", "comment": False})
    with pytest.raises(AnswerError, match="takes no comment"):
        check_answer(no_comment, 5, {}, "hello")


def test_survey_links_are_signed_and_scoped() -> None:
    clock = FixedClock(datetime(2026, 12, 3, 12, tzinfo=UTC))
    signer = Signer({"k1": b"k" * 32}, "k1", clock=clock)
    url = survey_link(signer, "https://shop.example/r/", 7, 42, timedelta(days=30), locale="da")
    assert url.startswith("https://shop.example/r/f/v1.k1.")
    token = url.rsplit("/", 1)[1]
    link = read_survey_token(signer, token)
    assert (link.survey_id, link.customer_id, link.delivery_id, link.locale) == (7, 42, None, "da")
    assert link.source == "link" and link.key.startswith("link:")
    message = read_survey_token(signer, survey_token(signer, 7, 42, delivery_id=9))
    assert message.source == "message" and message.key == "message:9"
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with pytest.raises(TokenError) as caught:
        read_survey_token(signer, tampered)
    assert caught.value.reason == "signature"
    other_purpose = signer.sign("consent.withdraw", {"s": 7, "c": 42}, timedelta(days=1))
    with pytest.raises(TokenError) as caught:
        read_survey_token(signer, other_purpose)
    assert caught.value.reason == "purpose"
    clock.advance(timedelta(days=31))
    with pytest.raises(TokenError) as caught:
        read_survey_token(signer, token)
    assert caught.value.reason == "expired"
    assert score_links("https://x/f/t", 1, 3) == {
        1: "https://x/f/t?score=1",
        2: "https://x/f/t?score=2",
        3: "https://x/f/t?score=3",
    }
