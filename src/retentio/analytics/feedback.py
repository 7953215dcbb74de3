"""Survey analytics: NPS and CSAT now, over time and by segment, and how answers relate to
later purchases. Pure functions over tables: no database, no clock.

The tables are pyarrow Tables or pandas (or polars) DataFrames with these columns;
``retentio.store.feedback_arrow`` reads them from the store.

**responses**, one row per answer (:data:`SURVEY_RESPONSES_SCHEMA`):

| column       | type                  | meaning                                              |
|--------------|-----------------------|------------------------------------------------------|
| customer_id  | string                | the shop's customer id, as in the transactions       |
| survey       | string                | the survey's name                                    |
| kind         | string                | nps (scores 0-10), csat (1-5) or custom (no score)   |
| score        | int64 (nullable)      | the score given; null for a custom survey            |
| responded_at | timestamp[us, tz=UTC] | when the answer was given                            |

The NPS functions read the rows whose ``kind`` is ``nps`` (every row when the table has no
``kind`` column), the CSAT functions those whose ``kind`` is ``csat``.

**memberships**, one row per customer in a segment (:data:`SEGMENT_MEMBERSHIPS_SCHEMA`):
``segment`` and ``customer_id`` (strings); a customer may be in several segments.

NPS (Net Promoter Score): promoters score 9-10, passives 7-8, detractors 0-6; NPS = % promoters
- % detractors, from -100 to 100. CSAT: the share of scores 4-5 (satisfied), in per cent. Every
answer counts (a customer who answered twice in a period counts twice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from retentio.analytics._feedback import (
    _CSAT_COUNTS,
    _NPS_COUNTS,
    CSAT_RANGE,
    DETRACTOR_MAX,
    NPS_CATEGORIES,
    NPS_RANGE,
    PROMOTER_MIN,
    SATISFIED_MIN,
    SEGMENT_MEMBERSHIPS_SCHEMA,
    SURVEY_RESPONSES_SCHEMA,
    _arrow,
    _by_segment,
    _categories,
    _day_bounds,
    _micros,
    _nps_value,
    _over_time,
    _Scores,
    _scores,
    _share,
)
from retentio.analytics.feedback_outcomes import feedback_outcomes

__all__ = [
    "CSAT_RANGE",
    "DETRACTOR_MAX",
    "NPS_CATEGORIES",
    "NPS_RANGE",
    "PROMOTER_MIN",
    "SATISFIED_MIN",
    "SEGMENT_MEMBERSHIPS_SCHEMA",
    "SURVEY_RESPONSES_SCHEMA",
    "CsatScore",
    "NpsScore",
    "csat",
    "csat_by_segment",
    "csat_over_time",
    "feedback_outcomes",
    "nps",
    "nps_by_segment",
    "nps_over_time",
    "responses_over_time",
]


@dataclass(frozen=True, slots=True)
class NpsScore:
    """NPS of a set of answers (see :func:`nps`)."""

    responses: int
    promoters: int
    passives: int
    detractors: int
    nps: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``nps`` None when there is no answer)."""
        value = None if math.isnan(self.nps) else self.nps
        return {
            "responses": self.responses,
            "promoters": self.promoters,
            "passives": self.passives,
            "detractors": self.detractors,
            "nps": value,
        }


@dataclass(frozen=True, slots=True)
class CsatScore:
    """CSAT of a set of answers (see :func:`csat`)."""

    responses: int
    satisfied: int
    csat: float
    average_score: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``csat`` and ``average_score`` None when there is no answer)."""
        return {
            "responses": self.responses,
            "satisfied": self.satisfied,
            "csat": None if math.isnan(self.csat) else self.csat,
            "average_score": None if math.isnan(self.average_score) else self.average_score,
        }


# -- now ------------------------------------------------------------------------------------


def nps(
    responses: object,
    *,
    survey: str | None = None,
    start: object | None = None,
    end: object | None = None,
) -> NpsScore:
    """The Net Promoter Score of the NPS answers.

    Parameters
    ----------
    responses
        The answers (``score``; ``kind``, ``survey`` and ``responded_at`` when present or
        needed; see the module's docstring).
    survey
        Only this survey's answers (by name); default: every NPS survey's.
    start, end
        First and last UTC day (inclusive) of the answers counted; default: all.

    Returns
    -------
    NpsScore
        ``responses``; ``promoters`` (9-10), ``passives`` (7-8), ``detractors`` (0-6);
        ``nps = 100 * (promoters - detractors) / responses`` (NaN without answers).

    Raises
    ------
    DataError
        A score outside 0-10, or an answer without a score.
    """
    found = _scores(responses, "nps", survey=survey, start=start, end=end)
    counts = np.bincount(_categories(found.scores), minlength=3)
    detractors, passives, promoters = (int(n) for n in counts)
    total = len(found.scores)
    value = float(_nps_value(promoters, detractors, total)) if total else math.nan
    return NpsScore(total, promoters, passives, detractors, value)


def csat(
    responses: object,
    *,
    survey: str | None = None,
    start: object | None = None,
    end: object | None = None,
) -> CsatScore:
    """The customer satisfaction score of the CSAT answers.

    Parameters
    ----------
    responses, survey, start, end
        As for :func:`nps`; the rows whose ``kind`` is ``csat``.

    Returns
    -------
    CsatScore
        ``responses``; ``satisfied`` (scores 4-5); ``csat = 100 * satisfied / responses``;
        ``average_score`` (1-5). Both NaN without answers.

    Raises
    ------
    DataError
        A score outside 1-5, or an answer without a score.
    """
    found = _scores(responses, "csat", survey=survey, start=start, end=end)
    total = len(found.scores)
    satisfied = int((found.scores >= SATISFIED_MIN).sum())
    if not total:
        return CsatScore(0, 0, math.nan, math.nan)
    return CsatScore(total, satisfied, float(_share(satisfied, total)), float(found.scores.mean()))


def nps_over_time(
    responses: object,
    period: str = "M",
    *,
    survey: str | None = None,
    start: object | None = None,
    end: object | None = None,
) -> pd.DataFrame:
    """NPS per calendar period.

    Parameters
    ----------
    responses, survey
        As for :func:`nps` (``responded_at`` is required).
    period
        D, W (ISO weeks), M, Q or Y, on UTC days.
    start, end
        First and last UTC day (inclusive); default: from the first to the last answer.

    Returns
    -------
    pandas.DataFrame
        ``period`` (the first day of each, every period from the first to the last, those
        without answers too), ``responses``, ``promoters``, ``passives``, ``detractors`` and
        ``nps`` (NaN in a period without answers).
    """
    found = _scores(responses, "nps", survey=survey, start=start, end=end, times=True)
    found = _Scores(found.customers, _categories(found.scores), found.at)
    periods, counts = _over_time(found, period, start, end, 3)
    detractors, passives, promoters = counts[:, 0], counts[:, 1], counts[:, 2]
    total = counts.sum(axis=1)
    out = pd.DataFrame(
        {
            "period": periods,
            "responses": total,
            "promoters": promoters,
            "passives": passives,
            "detractors": detractors,
            "nps": _nps_value(promoters, detractors, total).astype(np.float64),
        }
    )
    return out.astype({c: "int64" for c in _NPS_COUNTS})


def csat_over_time(
    responses: object,
    period: str = "M",
    *,
    survey: str | None = None,
    start: object | None = None,
    end: object | None = None,
) -> pd.DataFrame:
    """CSAT per calendar period.

    Parameters
    ----------
    responses, period, survey, start, end
        As for :func:`nps_over_time`; the rows whose ``kind`` is ``csat``.

    Returns
    -------
    pandas.DataFrame
        ``period``, ``responses``, ``satisfied``, ``csat`` (per cent satisfied) and
        ``average_score`` (NaN in a period without answers).
    """
    found = _scores(responses, "csat", survey=survey, start=start, end=end, times=True)
    by_score = _Scores(found.customers, found.scores - CSAT_RANGE[0], found.at)
    periods, counts = _over_time(by_score, period, start, end, 5)
    total = counts.sum(axis=1)
    satisfied = counts[:, SATISFIED_MIN - 1 :].sum(axis=1)
    points = counts @ np.arange(CSAT_RANGE[0], CSAT_RANGE[1] + 1)
    out = pd.DataFrame(
        {
            "period": periods,
            "responses": total,
            "satisfied": satisfied,
            "csat": _share(satisfied, total),
            "average_score": _share(points, total) / 100.0,
        }
    )
    return out.astype({c: "int64" for c in _CSAT_COUNTS})


def responses_over_time(
    responses: object,
    period: str = "M",
    *,
    survey: str | None = None,
    start: object | None = None,
    end: object | None = None,
) -> pd.DataFrame:
    """How many answers came per calendar period, of every kind (custom surveys too).

    Parameters
    ----------
    responses
        The answers (``responded_at``; ``survey`` when given; see the module's docstring).
    period, survey, start, end
        As for :func:`nps_over_time`.

    Returns
    -------
    pandas.DataFrame
        ``period`` (the first day of each, every period from the first to the last) and
        ``responses``.
    """
    table = _arrow(responses, "responses", ["responded_at", *(["survey"] if survey else [])])
    if survey is not None:
        table = table.filter(pc.equal(table["survey"], survey))
    at = _micros(table["responded_at"])
    low, high = _day_bounds(start, end)
    inside = np.ones(len(at), dtype=bool)
    if low is not None:
        inside &= at >= low
    if high is not None:
        inside &= at < high
    at = at[inside]
    found = _Scores(pa.array([], pa.string()), np.zeros(len(at), np.int64), at)
    periods, counts = _over_time(found, period, start, end, 1)
    out = pd.DataFrame({"period": periods, "responses": counts[:, 0]})
    return out.astype({"responses": "int64"})


def nps_by_segment(
    responses: object,
    memberships: object,
    *,
    survey: str | None = None,
    start: object | None = None,
    end: object | None = None,
) -> pd.DataFrame:
    """NPS per segment: the answers of each segment's members.

    Parameters
    ----------
    responses, survey, start, end
        As for :func:`nps` (``customer_id`` is required).
    memberships
        Who is in which segment (``segment``, ``customer_id``; see the module's docstring):
        as given, e.g. today's members. A customer in several segments counts in each.

    Returns
    -------
    pandas.DataFrame
        One row per segment of ``memberships``, by name: ``segment``, ``respondents``
        (members with an answer), ``responses``, ``promoters``, ``passives``,
        ``detractors``, ``nps`` (NaN for a segment whose members gave no answer).
    """
    found = _scores(responses, "nps", survey=survey, start=start, end=end, customers=True)
    found = _Scores(found.customers, _categories(found.scores), found.at)
    names, counts, respondents = _by_segment(found, memberships, 3)
    detractors, passives, promoters = counts[:, 0], counts[:, 1], counts[:, 2]
    total = counts.sum(axis=1)
    out = pd.DataFrame(
        {
            "segment": pd.Series(names, dtype=object),
            "respondents": respondents,
            "responses": total,
            "promoters": promoters,
            "passives": passives,
            "detractors": detractors,
            "nps": _nps_value(promoters, detractors, total).astype(np.float64),
        }
    )
    return out.astype({c: "int64" for c in ["respondents", *_NPS_COUNTS]})


def csat_by_segment(
    responses: object,
    memberships: object,
    *,
    survey: str | None = None,
    start: object | None = None,
    end: object | None = None,
) -> pd.DataFrame:
    """CSAT per segment: the answers of each segment's members.

    Parameters
    ----------
    responses, memberships, survey, start, end
        As for :func:`nps_by_segment`; the rows whose ``kind`` is ``csat``.

    Returns
    -------
    pandas.DataFrame
        ``segment``, ``respondents``, ``responses``, ``satisfied``, ``csat`` and
        ``average_score`` (NaN for a segment whose members gave no answer).
    """
    found = _scores(responses, "csat", survey=survey, start=start, end=end, customers=True)
    found = _Scores(found.customers, found.scores - CSAT_RANGE[0], found.at)
    names, counts, respondents = _by_segment(found, memberships, 5)
    total = counts.sum(axis=1)
    satisfied = counts[:, SATISFIED_MIN - 1 :].sum(axis=1)
    points = counts @ np.arange(CSAT_RANGE[0], CSAT_RANGE[1] + 1)
    out = pd.DataFrame(
        {
            "segment": pd.Series(names, dtype=object),
            "respondents": respondents,
            "responses": total,
            "satisfied": satisfied,
            "csat": _share(satisfied, total),
            "average_score": _share(points, total) / 100.0,
        }
    )
    return out.astype({c: "int64" for c in ["respondents", *_CSAT_COUNTS]})
