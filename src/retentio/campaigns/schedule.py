"""Scheduled jobs the worker runs between its batches (the loyalty programme's round, ...):
each at most once per its interval per worker, its failure logged and retried at the next
interval rather than stopping the deliveries."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

__all__ = ["Schedule", "ScheduledJob"]

log = logging.getLogger("retentio.worker")


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """``run(session, now)`` every ``every``."""

    name: str
    every: timedelta
    run: Callable[[Session, datetime], object]


class Schedule:
    """The jobs of one worker and when each is next due (at once for a new worker)."""

    def __init__(self, jobs: Sequence[ScheduledJob]) -> None:
        self._jobs = tuple(jobs)
        self._due: dict[str, datetime] = {}

    def run_due(self, session: Session, now: datetime) -> list[str]:
        """Run the jobs that are due; returns the names of those that ran (or failed)."""
        ran = []
        for job in self._jobs:
            due = self._due.get(job.name)
            if due is not None and now < due:
                continue
            self._due[job.name] = now + job.every
            ran.append(job.name)
            try:
                job.run(session, now)
            except Exception:  # a job's failure must not stop the deliveries
                session.rollback()
                log.exception("scheduled job %s failed; it runs again in %s", job.name, job.every)
        return ran
