"""Many values as one parameter: a JSON array read by ``json_each`` (SQLite) or
``jsonb_array_elements_text`` (PostgreSQL), instead of thousands of bound values (which cost
more to compile than the query takes to run)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Column, ColumnElement, Connection, String, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["is_postgres", "json_elements", "json_list", "one_of"]


def is_postgres(connection: Connection) -> bool:
    """Whether ``connection`` is to PostgreSQL (else SQLite)."""
    return connection.dialect.name == "postgresql"


def json_list(values: Iterable[Any]) -> str:
    """``values`` (strings or integers) as one JSON array: the parameter of a bulk statement."""
    return orjson.dumps(list(values)).decode()


def one_of(connection: Connection, key: Column[Any], values: Iterable[Any]) -> Any:
    """``key IN (values)`` with the values as one JSON parameter, however many (10,000 bound
    values cost more to compile than the query took to run): read by ``json_each`` on SQLite,
    ``jsonb_array_elements_text`` on PostgreSQL. ``values``: strings or integers."""
    elements = json_elements(connection, "one_of", sorted(set(values)))
    value: ColumnElement[Any] = elements.c.value
    if is_postgres(connection) and not isinstance(key.type, String):
        value = cast(value, key.type)  # PostgreSQL hands the elements out as text
    return key.in_(select(value))


def json_elements(connection: Connection, name: str, values: Iterable[Any]) -> Any:
    """A table of one column ``value``: ``values`` (strings or integers) sent as one JSON
    parameter ``name`` and read by ``json_each`` (SQLite) or ``jsonb_array_elements_text``."""
    listed = bindparam(name, json_list(values), type_=String)
    if is_postgres(connection):
        return func.jsonb_array_elements_text(cast(listed, JSONB)).table_valued("value")
    return func.json_each(listed).table_valued("value")
