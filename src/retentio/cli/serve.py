"""`retentio serve`: the REST API (uvicorn) on the embedded database or RETENTIO_DATABASE_URL."""

# No `from __future__ import annotations`: Typer reads the annotations as objects.

import os
from typing import Annotated

import typer

from retentio.bootstrap import Settings
from retentio.cli.app import app, err
from retentio.cli.db import DatabaseUrl

__all__ = ["serve_command"]

#: The API's factory, named rather than imported: entry points never import each other.
API_FACTORY = "retentio.api:app_from_settings"


#: How long a server process may take to start (and later to answer a health check).
WORKER_START_SECONDS = 60


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    database_url: DatabaseUrl = None,
    log_level: Annotated[
        str, typer.Option(help="critical, error, warning, info or debug.")
    ] = "info",
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes; one per core suits batch ingestion. Each process has its "
            "own rate-limit buckets; on SQLite, writers of every process queue on one lock.",
        ),
    ] = 1,
) -> None:
    """Serve the REST API (and its docs page) until stopped with Ctrl-C."""
    import uvicorn  # imported here: the other commands should not pay for the web stack

    if database_url is not None:
        os.environ["RETENTIO_DATABASE_URL"] = database_url
    Settings().require_secret()  # say what is missing before uvicorn starts
    base = f"http://{host}:{port}/api/v1"
    err.print(f"Serving the retentio API on {base} (docs: {base}/docs; Ctrl-C stops it)")
    uvicorn.run(
        API_FACTORY,
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        server_header=False,
        workers=workers,
        # A worker answers the supervisor's health checks only once it has imported the app
        # (the analytics stack: 5-12 s on a small machine); uvicorn's default of 5 s would
        # kill it while it starts.
        timeout_worker_healthcheck=WORKER_START_SECONDS,
    )
