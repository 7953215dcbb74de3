"""Cohorts of subscriptions by start month and the share of each still live after n months
(see :mod:`retentio.analytics.subscriptions` for the table)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from retentio.analytics._subscription_input import day_end, subscriptions_frame
from retentio.core.errors import ConfigurationError

__all__ = ["cohort_survival"]


def _add_months(at: pd.Series, months: np.ndarray) -> pd.Series:
    """``at`` plus ``months`` calendar months each, on the same day of the month (the last
    day of a shorter month), at the same time of day."""
    stamps = at.dt.tz_convert("UTC").dt.tz_localize(None)
    month = stamps.to_numpy().astype("datetime64[M]")
    day = stamps.to_numpy().astype("datetime64[D]")
    time_of_day = stamps.to_numpy() - day
    target = month + months.astype("timedelta64[M]")
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(int)
    offset = np.minimum((day - month.astype("datetime64[D]")).astype(int), length - 1)
    moved = target.astype("datetime64[D]") + offset.astype("timedelta64[D]") + time_of_day
    return pd.Series(pd.to_datetime(moved).tz_localize("UTC"), index=at.index)


def _anniversaries_before(started: pd.Series, until: pd.Series) -> np.ndarray:
    """How many monthly anniversaries (started + 1, 2, ... months) fall before ``until``."""
    since = until.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[M]")
    begun = started.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[M]")
    months = np.maximum((since - begun).astype(int), 0)
    months = np.where(_add_months(started, months) < until, months, np.maximum(months - 1, 0))
    return np.asarray(months, dtype=np.int64)


def cohort_survival(
    subscriptions: object, *, as_of: object, periods: int | None = None
) -> pd.DataFrame:
    """Each start-month cohort's survival: the share still live after 0, 1, 2, ... months.

    A subscription survives n periods when it is live at its n-th monthly anniversary
    (``started_at`` + n calendar months, on the last day of a shorter month): its
    ``ended_at`` is later. A cohort's period n is shown once every member's n-th anniversary
    has passed by the end of ``as_of`` (so its counts never fall for want of time), which
    makes them the survival counts the sBG model is fitted on
    (:func:`retentio.clv.project_cohorts`). A cancelled and an expired subscription both end
    their survival; a paused or past-due one survives.

    Parameters
    ----------
    subscriptions
        The subscriptions (``subscription_id``, ``started_at``, ``ended_at``).
    as_of
        The UTC day the survival is seen from: later starts and endings are left out.
    periods
        The most periods shown per cohort; default: all observed.

    Returns
    -------
    pandas.DataFrame
        ``cohort, period, subscriptions, active, share``: ``cohort`` the start month
        (``YYYY-MM``, UTC), ``period`` n from 0, ``subscriptions`` the cohort's size,
        ``active`` those that survived n periods, ``share = active / subscriptions``. By
        cohort then period.
    """
    if periods is not None and periods < 0:
        raise ConfigurationError(f"periods: 0 or more, got {periods}")
    subs = subscriptions_frame(subscriptions)
    ends = day_end(as_of, "as_of")
    subs = subs.loc[subs["started_at"] < ends]
    columns = ["cohort", "period", "subscriptions", "active", "share"]
    horizon = pd.Series(ends, index=subs.index)
    observed = _anniversaries_before(subs["started_at"], horizon)
    until = subs["ended_at"].where(subs["ended_at"].notna() & (subs["ended_at"] < ends), ends)
    survived = _anniversaries_before(subs["started_at"], until)
    cohort = subs["started_at"].dt.strftime("%Y-%m")
    members = pd.DataFrame(
        {"cohort": cohort.to_numpy(), "observed": observed, "survived": survived}
    )
    rows: list[tuple[str, int, int, int, float]] = []
    for name, group in members.groupby("cohort", sort=True):
        last = int(group["observed"].min())
        if periods is not None:
            last = min(last, periods)
        lived = np.bincount(np.minimum(group["survived"].to_numpy(), last), minlength=last + 1)
        active = lived[::-1].cumsum()[::-1]
        size = len(group)
        rows.extend(
            (str(name), n, size, int(active[n]), float(active[n] / size)) for n in range(last + 1)
        )
    return pd.DataFrame(rows, columns=columns).astype(
        {
            "cohort": object,
            "period": "int64",
            "subscriptions": "int64",
            "active": "int64",
            "share": "float64",
        }
    )
