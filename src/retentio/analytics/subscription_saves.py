"""What kept subscriptions: pauses (and how they ended) and the save offers of the
cancellation flow (see :mod:`retentio.analytics.subscriptions` for the tables)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import pandas as pd

from retentio.analytics._input import as_date
from retentio.analytics._subscription_input import (
    day_end,
    events_before,
    frame,
    ratio,
    subscriptions_frame,
    utc,
    window,
)

__all__ = ["PauseRates", "pause_rates", "save_offer_acceptance"]

_PAUSE_OUTCOMES = {
    "subscription_resumed": "resumed",
    "subscription_cancelled": "cancelled",
    "expired": "cancelled",
}


@dataclass(frozen=True, slots=True)
class PauseRates:
    """How many paused in a window, and how their pauses ended (:func:`pause_rates`)."""

    start: date
    end: date
    subscriptions: int
    paused_subscriptions: int
    pauses: int
    resumed: int
    cancelled: int
    still_paused: int

    @property
    def pause_rate(self) -> float:
        """``paused_subscriptions / subscriptions`` (NaN without subscriptions)."""
        return ratio(self.paused_subscriptions, self.subscriptions)

    @property
    def resume_rate(self) -> float:
        """``resumed / (resumed + cancelled)``: of the pauses that ended, the share that
        resumed (NaN when none ended yet)."""
        return ratio(self.resumed, self.resumed + self.cancelled)


def pause_rates(subscriptions: object, events: object, *, start: object, end: object) -> PauseRates:
    """The pause rate of a window and the pause -> resume rate of its pauses.

    Parameters
    ----------
    subscriptions
        The subscriptions (``subscription_id``, ``started_at``, ``ended_at``).
    events
        Their history (``subscription_id``, ``kind``, ``offer``, ``occurred_at``,
        ``event_id``; see the module's docstring).
    start, end
        First and last UTC day (both included) of the window.

    Returns
    -------
    PauseRates
        ``subscriptions``: live at some time in the window; ``pauses``: the pauses that began
        in it (``subscription_paused``, which a pause asked for later logs when it starts, and
        an accepted ``pause`` save offer); ``paused_subscriptions``: the subscriptions with
        one; each pause's outcome is the first of these events after it, by the end of
        ``end``: ``subscription_resumed`` (``resumed``), ``subscription_cancelled`` or
        ``expired`` (``cancelled``), none yet (``still_paused``). ``pause_rate =
        paused_subscriptions / subscriptions``, ``resume_rate = resumed / (resumed +
        cancelled)``.
    """
    subs = subscriptions_frame(subscriptions)
    first, last, begins, ends = window(start, end)
    ended = subs["ended_at"]
    live = (subs["started_at"] < ends) & (ended.isna() | (ended >= begins))
    history = events_before(events, ends, "offer")
    kind = history["kind"]
    pausing = (kind == "subscription_paused") | (
        (kind == "offer_accepted") & (history["offer"] == "pause")
    )
    pauses = history.loc[pausing & (history["occurred_at"] >= begins)]
    outcomes = history.loc[kind.isin(_PAUSE_OUTCOMES), ["subscription_id", "position", "kind"]]
    ended_by = pd.merge_asof(
        pauses[["subscription_id", "position"]],
        outcomes.rename(columns={"kind": "outcome"}),
        on="position",
        by="subscription_id",
        direction="forward",
        allow_exact_matches=False,
    )["outcome"].map(_PAUSE_OUTCOMES)
    return PauseRates(
        start=first,
        end=last,
        subscriptions=int(live.sum()),
        paused_subscriptions=int(pauses["subscription_id"].nunique()),
        pauses=len(pauses),
        resumed=int((ended_by == "resumed").sum()),
        cancelled=int((ended_by == "cancelled").sum()),
        still_paused=int(ended_by.isna().sum()),
    )


def save_offer_acceptance(
    events: object, *, start: object | None = None, end: object | None = None
) -> pd.DataFrame:
    """How often each save offer was taken, by cancellation reason and offer.

    Parameters
    ----------
    events
        The history (``kind``, ``reason``, ``offer``, ``occurred_at``).
    start, end
        First and last UTC day (both included) of the events counted; default: all.

    Returns
    -------
    pandas.DataFrame
        ``reason, offer, shown, accepted, declined, acceptance_rate``: one row per (reason,
        offer) with an ``offer_shown``, ``offer_accepted`` or ``offer_declined`` event, by
        reason then offer. ``declined`` counts the offers shown that the customer passed by to
        confirm the cancellation; an offer shown and neither taken nor declined was left (the
        customer did not come back). ``acceptance_rate = accepted / shown`` (NaN when never
        shown).
    """
    history = frame(events, "events", ("kind", "reason", "offer", "occurred_at"))
    at = utc(history["occurred_at"])
    keep = pd.Series(True, index=history.index)
    if start is not None:
        keep &= at >= pd.Timestamp(as_date(start, "start").isoformat(), tz="UTC")
    if end is not None:
        keep &= at < day_end(end, "end")
    columns = {"offer_shown": "shown", "offer_accepted": "accepted", "offer_declined": "declined"}
    offers = history.loc[keep & history["kind"].isin(columns), ["reason", "offer", "kind"]]
    counts = (
        offers.assign(reason=offers["reason"].fillna(""), offer=offers["offer"].fillna(""))
        .groupby(["reason", "offer", "kind"])
        .size()
        .unstack("kind", fill_value=0)
        .reindex(columns=list(columns), fill_value=0)
        .rename(columns=columns)
    )
    out = counts.reset_index().astype(
        {
            "reason": object,
            "offer": object,
            "shown": "int64",
            "accepted": "int64",
            "declined": "int64",
        }
    )
    out.columns.name = None
    shown = out["shown"].astype("float64")
    out["acceptance_rate"] = (out["accepted"] / shown).where(shown > 0, math.nan)
    return out.sort_values(["reason", "offer"], ignore_index=True)
