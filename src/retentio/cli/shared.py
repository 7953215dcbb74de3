"""A decorator that gives a command the shared column-mapping options as one LoadOptions."""

# No `from __future__ import annotations` here: Typer reads these annotations as objects.

import functools
import inspect
from collections.abc import Callable
from typing import Any

from retentio.cli import loading as o

__all__ = ["with_file_options", "with_load_options"]

_SHARED: list[tuple[str, Any, Any]] = [
    ("customer_col", o.CustomerCol, "customer_id"),
    ("order_col", o.OrderCol, "order_id"),
    ("date_col", o.DateCol, "ordered_at"),
    ("amount_col", o.AmountCol, "amount"),
    ("currency_col", o.CurrencyCol, None),
    ("status_col", o.StatusCol, None),
    ("tz", o.Tz, "UTC"),
    ("currency", o.Currency, None),
    ("date_format", o.DateFormat, None),
    ("decimal", o.Decimal, "."),
    ("rate", o.Rate, None),
    ("base_currency", o.BaseCurrency, None),
    ("skip_invalid", o.SkipInvalid, False),
    ("rejects", o.Rejects, None),
    ("format", o.Format, None),
    ("delimiter", o.Delimiter, None),
]
_STORE: list[tuple[str, Any, Any]] = [
    ("db", o.FromStore, False),
    ("database_url", o.StoreUrl, None),
]


def with_load_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the shared options, ``--db`` and ``--database-url`` (read the orders from the store
    instead of a file) to ``func``'s signature and pass them as ``options``."""
    return _with_options(func, store=True)


def with_file_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the shared options without ``--db`` (for ``load``, which writes to the store)."""
    return _with_options(func, store=False)


def _with_options(func: Callable[..., Any], *, store: bool) -> Callable[..., Any]:
    signature = inspect.signature(func, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "options"]
    options = _SHARED + (_STORE if store else [])
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)
        for name, kind, default in options
    ]
    names = [name for name, _, _ in options]

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        shared = {name: kwargs.pop(name) for name in names}
        shared["rate"] = tuple(shared["rate"] or ())
        return func(options=o.LoadOptions(**shared), **kwargs)

    parameters = own + extra
    command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    del command.__wrapped__
    return command
