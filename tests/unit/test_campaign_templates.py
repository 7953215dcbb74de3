"""Message templates: locales with fallback, escaping, the sandbox, strict names and limits."""

from __future__ import annotations

import time

import pytest

from retentio.campaigns import (
    Limits,
    MessageTemplate,
    TemplateError,
    Variant,
    check_template,
    render_message,
)

WIN_BACK = MessageTemplate(
    {
        "en": Variant(
            subject="We miss you, {{ first_name | default('there') }}",
            html="<p>Hi {{ first_name }}, use <b>{{ offer_code }}</b>.</p>",
            text="Hi {{ first_name }}, use {{ offer_code }}.",
        ),
        "da": Variant(
            subject="Vi savner dig, {{ first_name }}",
            html="<p>Hej {{ first_name }}</p>",
            text="Hej {{ first_name }}",
        ),
        "nl-BE": Variant(subject="We missen je", text="Hallo"),
    },
    default_locale="en",
)


def render(source: str, limits: Limits = Limits(), **context: object) -> str:  # noqa: B008
    template = MessageTemplate({"en": Variant(text=source)})
    return render_message(template, context, limits=limits).text


@pytest.mark.parametrize(
    ("locale", "chosen"),
    [
        ("da-DK", "da"),
        ("da", "da"),
        ("DA_dk", "da"),
        ("nl-be", "nl-BE"),
        ("sv-SE", "en"),
        (None, "en"),
    ],
)
def test_the_customers_locale_then_its_language_then_the_default(
    locale: str | None, chosen: str
) -> None:
    context = {"first_name": "Ida", "offer_code": "X"}
    assert render_message(WIN_BACK, context, locale=locale).locale == chosen


def test_html_is_escaped_and_text_and_subject_are_not() -> None:
    context = {"first_name": "<Ida & Co>", "offer_code": "SAVE10"}
    message = render_message(WIN_BACK, context, locale="en")
    assert message.html == "<p>Hi &lt;Ida &amp; Co&gt;, use <b>SAVE10</b>.</p>"
    assert message.text == "Hi <Ida & Co>, use SAVE10."
    assert message.subject == "We miss you, <Ida & Co>"


def test_a_subject_stays_on_one_line() -> None:
    context = {"first_name": "Ida\r\nBcc: all@example.com", "offer_code": "X"}
    assert render_message(WIN_BACK, context).subject == "We miss you, Ida Bcc: all@example.com"


def test_a_misspelt_name_is_an_error_and_default_still_works() -> None:
    with pytest.raises(TemplateError, match=r"en\.html.*'first_name' is undefined"):
        render_message(WIN_BACK, {"offer_code": "X"}, locale="en")
    assert render("{{ nickname | default('friend') }}") == "friend"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ items.append(1) }}",
        "{{ config }}",
        "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    ],
)
def test_the_sandbox_refuses_escapes(source: str) -> None:
    with pytest.raises(TemplateError):
        render(source, items=[1, 2])


def test_a_template_that_loops_for_ever_is_stopped_by_the_clock() -> None:
    source = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    started = time.monotonic()
    with pytest.raises(TemplateError, match="took more than 0.2 s"):
        render(source, Limits(max_seconds=0.2))
    assert time.monotonic() - started < 5


def test_output_and_source_are_limited() -> None:
    with pytest.raises(TemplateError, match="output passed 1,000 characters"):
        render("{% for i in range(2000) %}x{% endfor %}", Limits(max_output_chars=1000))
    with pytest.raises(TemplateError, match="the limit is 10"):
        render("x" * 11, Limits(max_source_chars=10))


def test_a_macro_calling_itself_without_end_fails_cleanly() -> None:
    source = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"
    with pytest.raises(TemplateError):
        render(source)


def test_check_names_the_locale_part_and_line_of_a_syntax_error() -> None:
    broken = MessageTemplate({"da": Variant(subject="ok", text="line one\n{% if %}")})
    with pytest.raises(TemplateError) as raised:
        check_template(broken)
    assert (raised.value.locale, raised.value.part, raised.value.line) == ("da", "text", 2)
    check_template(WIN_BACK)  # a good template passes


def test_a_template_needs_a_locale() -> None:
    with pytest.raises(TemplateError, match="at least one locale"):
        render_message(MessageTemplate({}), {})


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'a' * 300000000 }}",
        "{{ [1] * 300000000 }}",
        "{{ 2 ** 100000000 }}",
        "{{ '%999999999s' % 'a' }}",
        "{{ '%.999999999f' % 1.5 }}",
        "{{ '%999999999s' | format('a') }}",
        "{{ lipsum(200000) }}",
        "{{ 'a' | center(999999999) }}",
    ],
)
def test_values_too_big_for_the_output_are_refused_before_they_are_built(source: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError):
        render(source)
    assert time.monotonic() - started < 1


def test_ordinary_arithmetic_and_formatting_still_work() -> None:
    assert render("{{ '-' * 3 }} {{ 2 ** 10 }} {{ '%.2f' % 12.5 }} {{ '%d kr' | format(99) }}") == (
        "--- 1024 12.50 99 kr"
    )
