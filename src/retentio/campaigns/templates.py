"""Message templates written by marketers: rendered in Jinja2's sandbox, with limits.

A template is a subject, an HTML body and a text body per locale (``en``, ``da``, ``nl``...).
Rendering picks the customer's locale, falling back from ``da-DK`` to ``da`` and then to the
template's default locale. Rendering is safe to run on text from anyone who may write
campaigns (TRUST.md):

- **Sandbox.** Templates run in Jinja2's ``ImmutableSandboxedEnvironment``: no attribute
  starting with ``_``, no mutating calls, so ``{{ ''.__class__ }}`` fails.
- **Strict names.** ``StrictUndefined`` turns a misspelt name into an error, instead of an
  empty string in 100,000 e-mails. ``{{ first_name | default('there') }}`` still works.
- **Escaping.** The HTML body is autoescaped. The subject and the text body are not; newlines
  in a subject become spaces, so that nothing can be added to the message's headers.
- **Limits.** A template's source may be at most ``max_source_chars`` long, and its output at
  most ``max_output_chars``. Rendering may take at most ``max_seconds``: every loop and macro
  body checks the clock, so a template that loops for ever stops with an error. ``*``, ``**``
  and ``%`` are checked before they build a value larger than the output may hold; the
  ``format`` filter's widths are checked too. ``lipsum`` and the ``center``, ``indent`` and
  ``wordwrap`` filters (text of any width) are not available.
- **Plain values.** The context is a plain dict of plain values (first name, locale, last order,
  KPIs, predictions, offer code), built by the caller; nothing in it reaches the database.

Pure: no I/O. Errors are :class:`TemplateError`, naming the locale, the part and the line.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2 import TemplateError as JinjaError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from retentio.core.errors import DataError

__all__ = [
    "PARTS",
    "Limits",
    "MessageTemplate",
    "RenderedMessage",
    "TemplateError",
    "Variant",
    "check_template",
    "render_message",
]

#: The parts of a message, in the order they are checked.
PARTS = ("subject", "html", "text")
_TICK = "__retentio_tick"
_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("template_deadline")
_max_chars: contextvars.ContextVar[int] = contextvars.ContextVar("template_max_chars")
#: The widths in a %-format (``%999999999s``), which would build a string that long.
_WIDTHS = re.compile(r"%[-#0 +]*(\d+)|\.(\d+)")


class TemplateError(DataError):
    """A template that cannot be used or did not render: ``locale``, ``part`` and ``line``
    (when known) say where."""

    def __init__(self, locale: str, part: str, message: str, line: int | None = None) -> None:
        self.locale, self.part, self.line = locale, part, line
        where = f"{locale}.{part}" + (f", line {line}" if line else "")
        super().__init__(f"template {where}: {message}")


@dataclass(frozen=True, slots=True)
class Limits:
    """What a template may take: source and output length, and render time."""

    max_source_chars: int = 100_000
    max_output_chars: int = 1_000_000
    max_seconds: float = 1.0


@dataclass(frozen=True, slots=True)
class Variant:
    """A message in one locale. ``html`` may be empty for channels without HTML (SMS)."""

    subject: str = ""
    html: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    """A message in its locales; ``default_locale`` is used when the customer's is missing."""

    variants: Mapping[str, Variant]
    default_locale: str = "en"

    def choose(self, locale: str | None) -> str:
        """The variant's locale for a customer's ``locale``: exact, then its language, then
        the default, then the first variant."""
        if not self.variants:
            raise TemplateError("-", "-", "a template needs at least one locale")
        wanted = (locale or "").replace("_", "-")
        for candidate in (wanted, wanted.split("-")[0].lower(), self.default_locale):
            for known in self.variants:
                if candidate and known.lower() == candidate.lower():
                    return known
        return next(iter(self.variants))


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """The rendered parts, and the locale whose variant was used."""

    locale: str
    subject: str
    html: str
    text: str


def _tick() -> str:
    """Called at the start of every loop and macro body: stop a render past its deadline."""
    if time.monotonic() > _deadline.get(float("inf")):
        raise TimeoutError
    return ""


def _too_big(operator: str, left: Any, right: Any) -> bool:
    """Whether ``left operator right`` would build more than the output may hold, before it
    is built (``'a' * 10**9``, ``9 ** 9 ** 9``, ``'%999999999s' % x``)."""
    limit = _max_chars.get(1_000_000)
    if operator == "*":
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, str | list | tuple) and isinstance(times, int):
                return len(sequence) * times > limit
        return False
    if operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            return max(left.bit_length(), 1) * right > 32 * limit  # digits ~ bits / 3.3
        return False
    if operator == "%" and isinstance(left, str):
        return any(int(a or b) > limit for a, b in _WIDTHS.findall(left))
    return False


def _capped_format(value: str, *args: Any, **kwargs: Any) -> str:
    if any(int(a or b) > _max_chars.get(1_000_000) for a, b in _WIDTHS.findall(value)):
        raise SecurityError("a format wider than the output may be")
    return value % (kwargs or args)


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, with a clock check inserted at the top of every loop and macro body, and
    the operators that can build huge values checked before they do."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if _too_big(operator, left, right):
            raise SecurityError(f"the {operator!r} would build more than the output may hold")
        return super().call_binop(context, operator, left, right)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for node in tree.find_all((nodes.For, nodes.Macro, nodes.CallBlock)):
            tick = nodes.Output([nodes.Call(nodes.Name(_TICK, "load"), [], [], None, None)])
            body: list[nodes.Node] = node.body  # type: ignore[attr-defined]
            body.insert(0, tick)
        return tree


def _environment(autoescape: bool) -> _Environment:
    environment = _Environment(
        undefined=StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    environment.globals[_TICK] = _tick
    del environment.globals["lipsum"]  # placeholder text of any length: not for messages
    environment.filters["format"] = _capped_format
    for name in ("center", "indent", "wordwrap"):  # widths of any size
        del environment.filters[name]
    return environment


_HTML = _environment(autoescape=True)
_PLAIN = _environment(autoescape=False)


def _compiled(locale: str, part: str, source: str, limits: Limits) -> Any:
    if len(source) > limits.max_source_chars:
        raise TemplateError(
            locale, part, f"{len(source):,} characters; the limit is {limits.max_source_chars:,}"
        )
    try:
        return _compile(part == "html", source)
    except TemplateSyntaxError as exc:
        raise TemplateError(locale, part, exc.message or "syntax error", exc.lineno) from None


@functools.lru_cache(maxsize=512)
def _compile(html: bool, source: str) -> Any:
    """The compiled template (kept: compiling takes 50 times as long as rendering, and a
    campaign renders the same few sources for every customer)."""
    return (_HTML if html else _PLAIN).from_string(source)


def check_template(template: MessageTemplate, limits: Limits = Limits()) -> None:  # noqa: B008
    """Compile every part of every locale; the first problem as a TemplateError."""
    if not template.variants:
        raise TemplateError("-", "-", "a template needs at least one locale")
    for locale, variant in template.variants.items():
        for part in PARTS:
            _compiled(locale, part, getattr(variant, part), limits)


def render_message(
    template: MessageTemplate,
    context: Mapping[str, Any],
    *,
    locale: str | None = None,
    limits: Limits = Limits(),  # noqa: B008 (frozen)
) -> RenderedMessage:
    """Render the variant for ``locale`` with ``context`` (a plain dict), within ``limits``."""
    chosen = template.choose(locale)
    variant = template.variants[chosen]
    values = dict(context)
    rendered = {
        part: _render(chosen, part, getattr(variant, part), values, limits) for part in PARTS
    }
    subject = " ".join(rendered["subject"].split())  # one line: nothing leaks into headers
    return RenderedMessage(chosen, subject, rendered["html"], rendered["text"])


def _render(locale: str, part: str, source: str, context: dict[str, Any], limits: Limits) -> str:
    if not source:
        return ""
    compiled = _compiled(locale, part, source, limits)
    token = _deadline.set(time.monotonic() + limits.max_seconds)
    cap = _max_chars.set(limits.max_output_chars)
    chunks: list[str] = []
    size = 0
    try:
        for chunk in compiled.generate(context):
            size += len(chunk)
            if size > limits.max_output_chars:
                raise TemplateError(
                    locale, part, f"the output passed {limits.max_output_chars:,} characters"
                )
            chunks.append(chunk)
    except TimeoutError:
        raise TemplateError(
            locale, part, f"rendering took more than {limits.max_seconds:g} s"
        ) from None
    except SecurityError as exc:
        raise TemplateError(locale, part, f"not allowed in a template: {exc}") from None
    except JinjaError as exc:
        raise TemplateError(locale, part, exc.message or type(exc).__name__) from None
    except RecursionError:
        raise TemplateError(locale, part, "a macro calls itself too deeply") from None
    except (ArithmeticError, TypeError, ValueError, LookupError) as exc:
        raise TemplateError(locale, part, f"{type(exc).__name__}: {exc}") from None
    finally:
        _deadline.reset(token)
        _max_chars.reset(cap)
    return "".join(chunks)
