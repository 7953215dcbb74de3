"""The `retentio` command line."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from retentio.cli import apikey as _apikey  # noqa: F401  (registers apikey)
from retentio.cli import campaigns as _campaigns  # noqa: F401  (registers campaign, worker)
from retentio.cli import clv as _clv  # noqa: F401  (registers clv fit, predict, evaluate)
from retentio.cli import data as _data  # noqa: F401  (registers demo-data and load)
from retentio.cli import db as _db  # noqa: F401  (registers init and db)
from retentio.cli import journeys as _journeys  # noqa: F401  (registers journey)
from retentio.cli import loyalty as _loyalty  # noqa: F401  (registers loyalty)
from retentio.cli import loyalty_backfill as _loyalty_backfill  # noqa: F401  (registers loyalty backfill)
from retentio.cli import privacy as _privacy  # noqa: F401  (registers privacy and consent)
from retentio.cli import push as _push  # noqa: F401  (registers push)
from retentio.cli import segments as _segments  # noqa: F401  (registers segment and scores)
from retentio.cli import serve as _serve  # noqa: F401  (registers serve)
from retentio.cli import subscriptions as _subscriptions  # noqa: F401  (registers subscriptions)
from retentio.cli.app import app, err
from retentio.core.errors import RetentioError

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the `retentio` console script: errors become one clear line."""
    try:
        app(standalone_mode=False)
    except RetentioError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        sys.exit(1)
    except ValidationError as exc:  # a RETENTIO_ setting (environment or .env) that is wrong
        for problem in settings_problems(exc):
            err.print(f"[bold red]error:[/] {problem}", highlight=False, markup=True)
        sys.exit(1)


def settings_problems(exc: ValidationError) -> list[str]:
    """Each problem of a settings error as one line naming its variable."""
    found = []
    for error in exc.errors():
        where = error.get("loc") or ()
        name = f"RETENTIO_{str(where[0]).upper()}" if where else "a RETENTIO_ setting"
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        found.append(message if message.startswith(name) else f"{name}: {message}")
    return found
