"""Survey definitions, written as data (YAML/JSON) and checked here. Pure: no database, no clock.

A definition is a mapping::

    name: nps-2026                 # a letter, then letters, digits, '-', '_' or '.'
    kind: nps                      # nps (0-10), csat (1-5) or custom (questions only)
    description: The quarterly NPS
    default_locale: en             # the language every text must have (default en)
    throttle_days: 90              # ask or hear from one person at most once in N days
    question:                      # the score question; built in for en, da and nl
      en: How likely is it that you would recommend us to a friend or colleague?
      da: Hvor sandsynligt er det, at du vil anbefale os til en ven eller kollega?
    low: {en: Not likely}          # the words at the two ends of the scale (built in too)
    high: {en: Very likely}
    comment: {en: Tell us more}    # the comment field's label; false: no comment field
    thanks: {en: Thank you!}
    questions:                     # more questions (a custom survey needs one at least)
      - id: reason
        type: choice               # scale, choice or text
        text: {en: What mattered most?, da: Hvad betød mest?}
        options: [{id: price, text: {en: Price, da: Pris}}, quality]
        multiple: false            # choice: one option, or several
        required: false
      - {id: effort, type: scale, min: 1, max: 7, text: {en: How easy was it?}}
      - {id: note, type: text, max_length: 500, text: {en: Anything else?}}

A text is a mapping of locales to wording, or one string (in the default locale); it must
have the default locale. :func:`parse_survey` raises a :class:`SurveyError` naming the path of
the first problem (``questions[1].options[0].id``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from retentio.analytics.feedback import CSAT_RANGE, NPS_RANGE
from retentio.core.errors import DefinitionError
from retentio.feedback.texts import BUILT_IN, BUILT_IN_LOCALES

__all__ = [
    "QUESTION_TYPES",
    "SURVEY_KINDS",
    "Option",
    "Question",
    "SurveyDefinition",
    "SurveyError",
    "Texts",
    "parse_survey",
]

#: The kinds of survey: their score and its range (custom surveys have no score).
SURVEY_KINDS = ("nps", "csat", "custom")
QUESTION_TYPES = ("scale", "choice", "text")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,49}$")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_KEYS = {
    "name",
    "kind",
    "description",
    "default_locale",
    "throttle_days",
    "question",
    "low",
    "high",
    "comment",
    "thanks",
    "questions",
}
_QUESTION_KEYS = {"id", "type", "text", "required", "options", "multiple", "min", "max"}
_QUESTION_KEYS |= {"max_length"}
_MAX_QUESTIONS = 20
_MAX_OPTIONS = 50
_MAX_SCALE_STEPS = 21
_MAX_THROTTLE_DAYS = 3650


class SurveyError(DefinitionError):
    """A survey definition that cannot be used; ``path`` names where (``questions[0].type``)."""


@dataclass(frozen=True, slots=True)
class Texts:
    """One text in several languages; :meth:`get` falls back to the default locale."""

    by_locale: Mapping[str, str]
    default_locale: str

    def get(self, locale: str | None) -> str:
        """The wording in ``locale`` (``da-DK``, then ``da``), else in the default locale."""
        if locale:
            wanted = locale.lower().replace("_", "-")
            for candidate in (wanted, wanted.split("-")[0]):
                if candidate in self.by_locale:
                    return self.by_locale[candidate]
        return self.by_locale[self.default_locale]

    def to_dict(self) -> dict[str, str]:
        return dict(self.by_locale)


@dataclass(frozen=True, slots=True)
class Option:
    """One option of a choice question."""

    id: str
    text: Texts


@dataclass(frozen=True, slots=True)
class Question:
    """A question besides the score: a ``scale`` from ``low`` to ``high``, a ``choice`` of
    ``options`` (one, or several when ``multiple``), or free ``text`` up to ``max_length``."""

    id: str
    type: str
    text: Texts
    required: bool = False
    options: tuple[Option, ...] = ()
    multiple: bool = False
    low: int = 0
    high: int = 10
    max_length: int = 2000

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)


@dataclass(frozen=True, slots=True)
class SurveyDefinition:
    """A checked survey definition (see the module's docstring)."""

    name: str
    kind: str
    default_locale: str = "en"
    description: str = ""
    throttle_days: int = 90
    question: Texts | None = None
    low: Texts | None = None
    high: Texts | None = None
    comment: Texts | None = None
    thanks: Texts | None = None
    questions: tuple[Question, ...] = ()

    @property
    def score_range(self) -> tuple[int, int] | None:
        """The scores the survey takes (inclusive): NPS 0-10, CSAT 1-5; None for custom."""
        return {"nps": NPS_RANGE, "csat": CSAT_RANGE}.get(self.kind)

    def find(self, question_id: str) -> Question | None:
        """The question ``question_id``, or None."""
        return next((q for q in self.questions if q.id == question_id), None)


def parse_survey(data: Any) -> SurveyDefinition:
    """Check a decoded definition; a :class:`SurveyError` names the first problem."""
    if not isinstance(data, Mapping):
        raise SurveyError("(definition)", "a survey definition is a mapping of name, kind, ...")
    extra = sorted(str(k) for k in data if k not in _KEYS)
    if extra:
        raise SurveyError(extra[0], f"unknown key; known: {', '.join(sorted(_KEYS))}")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SurveyError("name", "a letter, then up to 99 letters, digits, '-', '_' or '.'")
    kind = data.get("kind")
    if kind not in SURVEY_KINDS:
        raise SurveyError("kind", f"one of {', '.join(SURVEY_KINDS)}, not {kind!r}")
    default = data.get("default_locale", "en")
    if not isinstance(default, str) or not _LOCALE.match(default):
        raise SurveyError("default_locale", "a locale such as en, da or nl-BE (lower case)")
    throttle = data.get("throttle_days", 90)
    if isinstance(throttle, bool) or not isinstance(throttle, int):
        raise SurveyError("throttle_days", f"whole days, not {throttle!r}")
    if not 0 <= throttle <= _MAX_THROTTLE_DAYS:
        raise SurveyError("throttle_days", f"0 (no limit) to {_MAX_THROTTLE_DAYS} days")
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > 1000 or "\x00" in description:
        raise SurveyError("description", "text of at most 1,000 characters")
    scored = kind != "custom"
    questions = _questions(data.get("questions", []), default)
    if not scored and not questions:
        raise SurveyError("questions", "a custom survey asks one question at least")
    if scored and "question" not in data and default not in BUILT_IN_LOCALES:
        raise SurveyError(
            "question",
            f"give the question in {default} (built-in texts: {', '.join(BUILT_IN_LOCALES)})",
        )
    if not scored:
        for key in ("question", "low", "high"):
            if key in data:
                raise SurveyError(key, "a custom survey has no score question")
    return SurveyDefinition(
        name=name,
        kind=str(kind),
        default_locale=default,
        description=description,
        throttle_days=throttle,
        question=_scored_text(data, "question", str(kind), default) if scored else None,
        low=_scored_text(data, "low", str(kind), default) if scored else None,
        high=_scored_text(data, "high", str(kind), default) if scored else None,
        comment=_optional_text(data, "comment", default),
        thanks=_optional_text(data, "thanks", default) or Texts(BUILT_IN["thanks"]["any"], "en"),
        questions=questions,
    )


def _texts(value: Any, path: str, default: str, *, limit: int = 500) -> Texts:
    """A text: ``{locale: wording}`` with the default locale, or one string."""
    given = {default: value} if isinstance(value, str) else value
    if not isinstance(given, Mapping) or not given:
        raise SurveyError(path, "a text, or a mapping of locales to texts ({en: ..., da: ...})")
    found: dict[str, str] = {}
    for locale, wording in given.items():
        if not isinstance(locale, str) or not _LOCALE.match(locale):
            raise SurveyError(f"{path}.{locale}", "a locale such as en, da or nl-BE (lower case)")
        if not isinstance(wording, str) or not wording.strip():
            raise SurveyError(f"{path}.{locale}", "a text that is not empty")
        if len(wording) > limit or "\x00" in wording:
            raise SurveyError(f"{path}.{locale}", f"at most {limit} characters, no NUL")
        found[locale] = wording.strip()
    if default not in found:
        raise SurveyError(path, f"give the text in the default locale, {default}")
    return Texts(found, default)


def _scored_text(data: Mapping[str, Any], key: str, kind: str, default: str) -> Texts:
    """The survey's own text ``key``, else the built-in one of its kind."""
    if key in data:
        return _texts(data[key], key, default)
    built_in = BUILT_IN[key][kind]
    return Texts(built_in, default if default in built_in else "en")


def _optional_text(data: Mapping[str, Any], key: str, default: str) -> Texts | None:
    """The survey's own text ``key``; the built-in one when not given; None when false."""
    value = data.get(key)
    if value is False:
        return None
    if value is None:
        built_in = BUILT_IN[key]["any"]
        return Texts(built_in, default if default in built_in else "en")
    return _texts(value, key, default)


def _flag(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise SurveyError(path, "true or false")
    return value


def _whole(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SurveyError(path, f"a whole number from {low} to {high}")
    return value


def _questions(value: Any, default: str) -> tuple[Question, ...]:
    if not isinstance(value, list):
        raise SurveyError("questions", "a list of questions ({id, type, text, ...})")
    if len(value) > _MAX_QUESTIONS:
        raise SurveyError("questions", f"at most {_MAX_QUESTIONS} questions")
    found = tuple(_question(raw, f"questions[{n}]", default) for n, raw in enumerate(value))
    ids = [q.id for q in found]
    for n, question_id in enumerate(ids):
        if question_id in ids[:n]:
            raise SurveyError(f"questions[{n}].id", f"{question_id!r} is used twice")
    return found


def _question(raw: Any, path: str, default: str) -> Question:
    if not isinstance(raw, Mapping):
        raise SurveyError(path, "a mapping {id, type, text, ...}")
    extra = sorted(str(k) for k in raw if k not in _QUESTION_KEYS)
    if extra:
        raise SurveyError(
            f"{path}.{extra[0]}", f"unknown key; known: {', '.join(sorted(_QUESTION_KEYS))}"
        )
    question_id = raw.get("id")
    if not isinstance(question_id, str) or not _ID.match(question_id):
        raise SurveyError(f"{path}.id", "a letter, then up to 49 letters, digits, '-' or '_'")
    kind = raw.get("type")
    if kind not in QUESTION_TYPES:
        raise SurveyError(f"{path}.type", f"one of {', '.join(QUESTION_TYPES)}, not {kind!r}")
    if "text" not in raw:
        raise SurveyError(f"{path}.text", "required: the question, per locale")
    allowed = {"scale": {"min", "max"}, "choice": {"options", "multiple"}, "text": {"max_length"}}
    for key in sorted({"options", "multiple", "min", "max", "max_length"} - allowed[str(kind)]):
        if key in raw:
            raise SurveyError(f"{path}.{key}", f"not for a {kind} question")
    common: dict[str, Any] = {
        "id": question_id,
        "type": str(kind),
        "text": _texts(raw["text"], f"{path}.text", default),
        "required": _flag(raw.get("required", False), f"{path}.required"),
    }
    if kind == "scale":
        low = _whole(raw.get("min", 0), f"{path}.min", 0, 100)
        high = _whole(raw.get("max", 10), f"{path}.max", 0, 100)
        if not low < high <= low + _MAX_SCALE_STEPS - 1:
            raise SurveyError(
                f"{path}.max", f"above min, at most {_MAX_SCALE_STEPS} steps (min {low})"
            )
        return Question(**common, low=low, high=high)
    if kind == "text":
        return Question(
            **common, max_length=_whole(raw.get("max_length", 2000), f"{path}.max_length", 1, 5000)
        )
    return Question(
        **common,
        options=_options(raw.get("options"), f"{path}.options", default),
        multiple=_flag(raw.get("multiple", False), f"{path}.multiple"),
    )


def _options(value: Any, path: str, default: str) -> tuple[Option, ...]:
    if not isinstance(value, list) or not 2 <= len(value) <= _MAX_OPTIONS:
        raise SurveyError(path, f"a list of 2 to {_MAX_OPTIONS} options ({{id, text}} or ids)")
    found: list[Option] = []
    for n, raw in enumerate(value):
        where = f"{path}[{n}]"
        if isinstance(raw, str):
            raw = {"id": raw, "text": raw}
        if not isinstance(raw, Mapping) or set(raw) != {"id", "text"}:
            raise SurveyError(where, "an option id, or {id, text}")
        option_id = raw["id"]
        if not isinstance(option_id, str) or not _ID.match(option_id):
            raise SurveyError(f"{where}.id", "a letter, then up to 49 letters, digits, '-' or '_'")
        if any(o.id == option_id for o in found):
            raise SurveyError(f"{where}.id", f"{option_id!r} is used twice")
        found.append(Option(option_id, _texts(raw["text"], f"{where}.text", default, limit=200)))
    return tuple(found)
