"""The customer's survey page, no login: ``/f/{token}`` (a signed survey link).

A GET only shows the form, with the score of a one-click link (``?score=9``) preselected:
link scanners and mail previews fetch links, and must not answer for anyone. The form POSTs,
and that records the answer (once per message or link: sending it twice keeps the first).
The page speaks English, Danish or Dutch (``?lang=``, else the customer's locale from the
link); the survey's own texts come in that language where the survey has it. Every control
has a label: the scores are radio buttons in a fieldset whose legend is the question.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from retentio.api.deps import DbSession, limit_by_address
from retentio.api.routes.pages import PAGE_LANGUAGES
from retentio.core.signing import Signer, TokenError
from retentio.feedback import (
    AnswerError,
    Question,
    SavedSurvey,
    SurveyConflict,
    SurveyLink,
    SurveyNotFound,
    SurveyThrottled,
    find_survey,
    read_survey_token,
    record_response,
)
from retentio.privacy.errors import NotFoundError

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(limit_by_address)])

Lang = Annotated[str | None, Query(pattern="^(da|en|nl)$")]
Score = Annotated[str | None, Query(max_length=3)]

_TEXT = {
    "en": {
        "title": "Your opinion",
        "send": "Send",
        "required": "(required)",
        "check": "Please check your answer",
        "bad": "This link is not valid",
        "expired": "This link has expired",
        "closed": "This survey is closed",
        "throttled": "You answered one of our surveys recently. Thank you!",
        "unavailable": "This page is not available",
    },
    "da": {
        "title": "Din mening",
        "send": "Send",
        "required": "(skal udfyldes)",
        "check": "Tjek venligst dit svar",
        "bad": "Linket er ikke gyldigt",
        "expired": "Linket er udløbet",
        "closed": "Undersøgelsen er lukket",
        "throttled": "Du har for nylig svaret på en af vores undersøgelser. Tak!",
        "unavailable": "Siden er ikke tilgængelig",
    },
    "nl": {
        "title": "Jouw mening",
        "send": "Versturen",
        "required": "(verplicht)",
        "check": "Controleer je antwoord",
        "bad": "Deze link is niet geldig",
        "expired": "Deze link is verlopen",
        "closed": "Deze enquête is gesloten",
        "throttled": "Je hebt onlangs al een enquête van ons ingevuld. Bedankt!",
        "unavailable": "Deze pagina is niet beschikbaar",
    },
}
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}"
    "fieldset{border:1px solid #ccc;margin:0 0 1.5rem;padding:1rem}"
    "legend{font-weight:600;padding:0 .25rem}"
    ".scale{display:flex;flex-wrap:wrap;gap:.25rem}"
    ".scale label{display:inline-block;min-width:2.2rem;padding:.4rem;text-align:center;"
    "border:1px solid #999;border-radius:.25rem}"
    ".hint{display:flex;justify-content:space-between;font-size:.9rem;color:#555}"
    "textarea{box-sizing:border-box;width:100%;min-height:6rem}"
    "label.block{display:block;margin:.25rem 0}"
    "button{font-size:1rem;padding:.5rem 1.5rem}.error{color:#a00}"
)


def _page(lang: str, title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=_HEADERS)


def _language(lang: str | None, link: SurveyLink | None) -> str:
    """``?lang=``, else the customer's locale from the link if the page speaks it, else en."""
    if lang is not None:
        return lang
    primary = (link.locale or "").split("-")[0].split("_")[0].lower() if link else ""
    return primary if primary in PAGE_LANGUAGES else "en"


def _refused(lang: str, error: TokenError) -> HTMLResponse:
    gone = error.reason in ("expired", "used", "unknown")
    text = _TEXT[lang]
    return _page(lang, text["expired"] if gone else text["bad"], "", 410 if gone else 400)


def _opened(request: Request, session: Any, token: str) -> tuple[SurveyLink, SavedSurvey]:
    """The link's survey, if the token is intact and the survey takes answers (else
    TokenError, or SurveyNotFound/SurveyConflict)."""
    signer: Signer | None = request.app.state.signer
    if signer is None:
        raise NotFoundError("no signer")
    link = read_survey_token(signer, token)
    survey = find_survey(session, link.survey_id)
    if survey.status != "active":
        raise SurveyConflict("archived")
    return link, survey


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _radios(name: str, values: list[tuple[str, str]], chosen: set[str], kind: str) -> str:
    parts = []
    for value, label in values:
        ident = f"{name}-{value}"
        checked = " checked" if value in chosen else ""
        parts.append(
            f'<label for="{_e(ident)}"><input type="{kind}" id="{_e(ident)}" '
            f'name="{_e(name)}" value="{_e(value)}"{checked}> {_e(label)}</label>'
        )
    return "".join(parts)


def _question(question: Question, lang: str, form: FormData | None) -> str:
    field = f"q.{question.id}"
    required = f" {_TEXT[lang]['required']}" if question.required else ""
    title = _e(question.text.get(lang) + required)
    given = {str(v) for v in form.getlist(field)} if form is not None else set()
    if question.type == "text":
        value = _e(str(form.get(field) or "") if form is not None else "")
        return (
            f'<p><label class="block" for="{_e(field)}">{title}</label>'
            f'<textarea id="{_e(field)}" name="{_e(field)}" '
            f'maxlength="{question.max_length}">{value}</textarea></p>'
        )
    if question.type == "scale":
        values = [(str(n), str(n)) for n in range(question.low, question.high + 1)]
        inputs = _radios(field, values, given, "radio")
        return f'<fieldset><legend>{title}</legend><div class="scale">{inputs}</div></fieldset>'
    values = [(o.id, o.text.get(lang)) for o in question.options]
    kind = "checkbox" if question.multiple else "radio"
    inputs = "".join(f"<div>{_radios(field, [value], given, kind)}</div>" for value in values)
    return f"<fieldset><legend>{title}</legend>{inputs}</fieldset>"


def _form(
    survey: SavedSurvey, lang: str, score: str | None, form: FormData | None, error: str = ""
) -> str:
    d = survey.definition
    parts = [f'<p class="error" role="alert">{_e(error)}</p>'] if error else []
    parts.append(f'<form method="post" action="?lang={lang}">')
    if d.score_range is not None and d.question is not None:
        low, high = d.score_range
        chosen = {score} if score else set()
        values = [(str(n), str(n)) for n in range(low, high + 1)]
        low_words = _e(d.low.get(lang)) if d.low else ""
        high_words = _e(d.high.get(lang)) if d.high else ""
        hint = (
            f'<div class="hint" id="score-hint"><span>{low} = {low_words}</span>'
            f"<span>{high} = {high_words}</span></div>"
        )
        parts.append(
            f'<fieldset aria-describedby="score-hint"><legend>{_e(d.question.get(lang))}</legend>'
            f'<div class="scale">{_radios("score", values, chosen, "radio")}</div>{hint}</fieldset>'
        )
    parts += [_question(q, lang, form) for q in d.questions]
    if d.comment is not None:
        comment = _e(str(form.get("comment") or "") if form is not None else "")
        parts.append(
            f'<p><label class="block" for="comment">{_e(d.comment.get(lang))}</label>'
            f'<textarea id="comment" name="comment" maxlength="2000">{comment}</textarea></p>'
        )
    parts.append(f'<button type="submit">{_e(_TEXT[lang]["send"])}</button></form>')
    return "".join(parts)


@router.get("/f/{token}")
def survey_page(
    request: Request, session: DbSession, token: str, lang: Lang = None, score: Score = None
) -> HTMLResponse:
    """The survey's form, the score of a one-click link preselected; nothing is recorded."""
    language = _language(lang, None)
    try:
        link, survey = _opened(request, session, token)
    except TokenError as error:
        return _refused(language, error)
    except (SurveyNotFound, SurveyConflict):
        return _page(language, _TEXT[language]["closed"], "", 410)
    except NotFoundError:
        return _page(language, _TEXT[language]["unavailable"], "", 503)
    session.rollback()  # end the read
    language = _language(lang, link)
    return _page(language, _TEXT[language]["title"], _form(survey, language, score, None))


async def read_form(request: Request) -> FormData:
    """The page's form (URL-encoded, as a browser sends it)."""
    return await request.form(max_files=0, max_fields=200)


def _answers(survey: SavedSurvey, form: FormData) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for question in survey.definition.questions:
        values = [str(v) for v in form.getlist(f"q.{question.id}") if str(v) != ""]
        if not values:
            continue
        if question.type == "scale":
            found[question.id] = int(values[0]) if values[0].lstrip("-").isdigit() else values[0]
        elif question.type == "choice" and question.multiple:
            found[question.id] = values
        else:
            found[question.id] = values[0]
    return found


def _comment(form: FormData) -> str | None:
    value = form.get("comment")
    return None if value is None else str(value)


@router.post("/f/{token}")
def answer(
    request: Request,
    session: DbSession,
    token: str,
    form: Annotated[FormData, Depends(read_form)],
    lang: Lang = None,
) -> HTMLResponse:
    """Record the answer the form sends (once per message or link); a tampered or expired
    token, an archived survey or a person surveyed recently records nothing."""
    language = _language(lang, None)
    try:
        link, survey = _opened(request, session, token)
    except TokenError as error:
        return _refused(language, error)
    except (SurveyNotFound, SurveyConflict):
        return _page(language, _TEXT[language]["closed"], "", 410)
    except NotFoundError:
        return _page(language, _TEXT[language]["unavailable"], "", 503)
    language = _language(lang, link)
    text = _TEXT[language]
    raw = str(form.get("score") or "")
    score: Any = int(raw) if raw.isdigit() and len(raw) <= 3 else (raw or None)
    try:
        with request.app.state.write_lock:
            record_response(
                session, survey, link.customer_id, score, _answers(survey, form),
                _comment(form), link.source, link.key, datetime.now(UTC), link.delivery_id,
            )  # fmt: skip
    except AnswerError as error:
        body = _form(survey, language, raw or None, form, f"{text['check']}: {error}")
        return _page(language, text["title"], body, 422)
    except SurveyThrottled:
        return _page(language, text["throttled"], "", 409)
    except SurveyConflict:
        return _page(language, text["closed"], "", 410)
    except NotFoundError:  # the customer was erased since the link was sent
        return _page(language, text["bad"], "", 410)
    thanks = survey.definition.thanks
    return _page(language, thanks.get(language) if thanks else text["title"], "")
