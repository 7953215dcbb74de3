"""The arithmetic behind :mod:`retentio.analytics.feedback`: the tables checked and turned
into numpy arrays, answers counted per period and per segment. Private: the public functions
and their documentation are in ``feedback``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from retentio.analytics._input import as_date
from retentio.analytics.periods import check_period, period_start
from retentio.core.errors import ConfigurationError, DataError, SchemaError

#: The NPS categories, lowest first.
NPS_CATEGORIES = ("detractor", "passive", "promoter")
#: The lowest score of a promoter, and the highest of a detractor (passives are in between).
PROMOTER_MIN = 9
DETRACTOR_MAX = 6
#: The lowest CSAT score counted as satisfied.
SATISFIED_MIN = 4
#: The scores each kind of survey takes (inclusive).
NPS_RANGE = (0, 10)
CSAT_RANGE = (1, 5)

_UTC_US = pa.timestamp("us", tz="UTC")
SURVEY_RESPONSES_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("survey", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("score", pa.int64()),
        pa.field("responded_at", _UTC_US, nullable=False),
    ],
    metadata={b"retentio.table": b"survey_responses", b"retentio.version": b"1"},
)
SEGMENT_MEMBERSHIPS_SCHEMA = pa.schema(
    [
        pa.field("segment", pa.string(), nullable=False),
        pa.field("customer_id", pa.string(), nullable=False),
    ],
    metadata={b"retentio.table": b"segment_memberships", b"retentio.version": b"1"},
)
_DAY_US = 86_400_000_000
_EPOCH = date(1970, 1, 1).toordinal()
_NPS_COUNTS = ["responses", "promoters", "passives", "detractors"]
_CSAT_COUNTS = ["responses", "satisfied"]

# -- input ---------------------------------------------------------------------------------


def _arrow(table: object, name: str, required: Sequence[str]) -> pa.Table:
    """``table`` as Arrow, with a clear error naming the columns it lacks."""
    if isinstance(table, pa.Table):
        found = table
    elif isinstance(table, pd.DataFrame):
        found = pa.Table.from_pandas(table, preserve_index=False)
    elif hasattr(table, "to_arrow"):
        found = table.to_arrow()
    else:
        raise ConfigurationError(
            f"{name}: cannot use a {type(table).__name__}; pass a pyarrow Table or a pandas "
            "or polars DataFrame"
        )
    missing = [column for column in required if column not in found.column_names]
    if missing:
        raise SchemaError(f"{name}: missing column(s) {', '.join(missing)}")
    return found


def _micros(values: Any) -> np.ndarray:
    """Timestamps as microseconds since 1970 UTC (naive ones, and ISO text, taken as UTC)."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        values = pc.cast(values, pa.timestamp("us"))
    if not pa.types.is_timestamp(values.type):
        raise SchemaError(f"responded_at: expected timestamps, got {values.type}")
    if values.null_count:
        raise DataError(f"responded_at: {values.null_count} answer(s) without a time")
    plain = pc.cast(pc.cast(values, pa.timestamp("us", tz=values.type.tz)), pa.int64())
    return np.asarray(plain.to_numpy(zero_copy_only=False), dtype=np.int64)


def _day_bounds(start: object | None, end: object | None) -> tuple[int | None, int | None]:
    """The window of UTC days ``start`` to ``end`` (inclusive) as [low, high) microseconds."""
    low = high = None
    if start is not None:
        low = (as_date(start, "start").toordinal() - _EPOCH) * _DAY_US
    if end is not None:
        high = (as_date(end, "end").toordinal() - _EPOCH + 1) * _DAY_US
    if low is not None and high is not None and low >= high:
        raise ConfigurationError(f"start {start} is after end {end}")
    return low, high


@dataclass(frozen=True, slots=True)
class _Scores:
    """The answers of one kind in the window: customer ids, scores, times (microseconds)."""

    customers: pa.Array
    scores: np.ndarray
    at: np.ndarray


def _scores(
    responses: object,
    kind: str,
    *,
    survey: str | None = None,
    start: object | None = None,
    end: object | None = None,
    customers: bool = False,
    times: bool = False,
) -> _Scores:
    needed = ["score", *(["customer_id"] if customers else [])]
    low, high = _day_bounds(start, end)
    windowed = low is not None or high is not None
    needed += ["responded_at"] if times or windowed else []
    needed += ["survey"] if survey is not None else []
    table = _arrow(responses, "responses", needed)
    keep = None
    if "kind" in table.column_names:
        keep = pc.equal(table["kind"], kind)
    if survey is not None:
        named = pc.equal(table["survey"], survey)
        keep = named if keep is None else pc.and_(keep, named)
    if keep is not None:
        table = table.filter(keep)
    at = _micros(table["responded_at"]) if "responded_at" in needed else np.empty(0, np.int64)
    if windowed:
        inside = np.ones(len(at), dtype=bool)
        if low is not None:
            inside &= at >= low
        if high is not None:
            inside &= at < high
        table, at = table.filter(pa.array(inside)), at[inside]
    column = table["score"]
    if column.null_count:
        raise DataError(f"score: {column.null_count} {kind} answer(s) without a score")
    scores = np.asarray(pc.cast(column, pa.int64()).to_numpy(), dtype=np.int64)
    low_score, high_score = NPS_RANGE if kind == "nps" else CSAT_RANGE
    bad = scores[(scores < low_score) | (scores > high_score)]
    if len(bad):
        raise DataError(
            f"score: {kind} scores are {low_score} to {high_score}; found {int(bad[0])}"
        )
    ids = pc.cast(table["customer_id"], pa.string()) if customers else pa.array([], pa.string())
    return _Scores(ids.combine_chunks() if customers else ids, scores, at)


def _categories(scores: np.ndarray) -> np.ndarray:
    """0 detractor, 1 passive, 2 promoter (:data:`NPS_CATEGORIES`)."""
    return (scores > DETRACTOR_MAX).astype(np.int64) + (scores >= PROMOTER_MIN)


def _nps_value(promoters: Any, detractors: Any, responses: Any) -> Any:
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * (np.asarray(promoters) - np.asarray(detractors)) / np.asarray(responses)


def _share(part: Any, whole: Any) -> Any:
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * np.asarray(part, dtype=np.float64) / np.asarray(whole)


# -- over time ------------------------------------------------------------------------------


def _period_indexes(at: np.ndarray, period: str) -> np.ndarray:
    """The index of the period of each time (as :mod:`retentio.analytics.periods` counts)."""
    days = np.floor_divide(at, _DAY_US)
    stamps = days.astype("datetime64[D]")
    if period == "D":
        found = days
    elif period == "W":
        found = np.floor_divide(days + 3, 7)  # ISO weeks: 1970-01-01 was a Thursday
    elif period == "Y":
        found = stamps.astype("datetime64[Y]").astype(np.int64) + 1970
    else:
        months = stamps.astype("datetime64[M]").astype(np.int64) + 1970 * 12
        found = np.floor_divide(months, 3) if period == "Q" else months
    return np.asarray(found, dtype=np.int64)


def _over_time(
    found: _Scores, period: str, start: object | None, end: object | None, groups: int
) -> tuple[pd.Series, np.ndarray]:
    """The periods (first day of each, contiguous) and a [periods, groups] count matrix of
    the answers by ``found.scores`` (already a group code 0..groups-1)."""
    key = check_period(period)
    index = _period_indexes(found.at, key)
    low, high = _day_bounds(start, end)

    def of(at: int) -> int:
        return int(_period_indexes(np.array([at], np.int64), key)[0])

    first = of(low) if low is not None else (int(index.min()) if len(index) else None)
    last = of(high - _DAY_US) if high is not None else (int(index.max()) if len(index) else None)
    if first is None or last is None:
        return pd.Series(pd.to_datetime([]), name="period"), np.zeros((0, groups), np.int64)
    span = last - first + 1
    flat = (index - first) * groups + found.scores
    counts = np.bincount(flat, minlength=span * groups).reshape(span, groups)
    starts = [period_start(i, key) for i in range(first, last + 1)]
    return pd.Series(pd.to_datetime(starts), name="period"), counts


# -- by segment ----------------------------------------------------------------------------


def _by_segment(
    found: _Scores, memberships: object, groups: int
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The segments (by name), a [segments, groups] count matrix of their members' answers by
    group code, and the members who answered per segment."""
    table = _arrow(memberships, "memberships", ("segment", "customer_id"))
    people = pc.unique(found.customers)
    answer_of = np.asarray(pc.index_in(found.customers, people).to_numpy(), dtype=np.int64)
    per_person = np.bincount(
        answer_of * groups + found.scores, minlength=len(people) * groups
    ).reshape(len(people), groups)
    encoded = pc.dictionary_encode(pc.cast(table["segment"], pa.string())).combine_chunks()
    names = [str(n) for n in encoded.dictionary.to_pylist()]
    segment_of = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    member = pc.index_in(pc.cast(table["customer_id"], pa.string()), people)
    answered = np.asarray(pc.is_valid(member).to_numpy(zero_copy_only=False), dtype=bool)
    who = np.asarray(pc.fill_null(member, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    who, segment_of = who[answered], segment_of[answered]
    counts = np.column_stack(
        [
            np.bincount(segment_of, weights=per_person[who, g], minlength=len(names))
            for g in range(groups)
        ]
    ).astype(np.int64)
    respondents = np.bincount(segment_of, minlength=len(names)).astype(np.int64)
    order = np.argsort(np.array(names, dtype=object), kind="stable")
    return [names[i] for i in order], counts[order], respondents[order]
