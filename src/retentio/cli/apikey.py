"""`retentio apikey create|list|revoke`: the keys the REST API accepts."""

# No `from __future__ import annotations`: Typer reads the annotations as objects.

import getpass
from typing import Annotated

import typer
from rich.table import Table

from retentio.access import Scope, create_api_key, list_api_keys, revoke_api_key
from retentio.cli.app import app, err, out
from retentio.cli.db import DatabaseUrl, store_session

__all__ = ["apikey_app"]

apikey_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@apikey_app.command("create")
def create_command(
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'shopify sync'.")],
    scope: Annotated[
        Scope, typer.Option(help="read, write (includes read) or admin (includes write).")
    ] = Scope.READ,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key and print it once: store it now, retentio keeps only its hash."""
    with store_session(database_url) as session:
        created = create_api_key(session, name=name, scope=scope.value, actor=_actor())
    err.print(
        f"Created {created.info.scope.value} key {created.info.prefix!r} ({created.info.name}). "
        "It is shown only now:"
    )
    out.print(created.token, highlight=False, soft_wrap=True)


@apikey_app.command("list")
def list_command(database_url: DatabaseUrl = None) -> None:
    """List the keys (never their secrets)."""
    with store_session(database_url) as session:
        keys = list_api_keys(session)
    grid = Table(title=f"{len(keys)} API key(s)")
    for column in ("prefix", "name", "scope", "created", "last used", "revoked"):
        grid.add_column(column)
    for key in keys:
        grid.add_row(
            key.prefix,
            key.name,
            key.scope.value,
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    out.print(grid)


@apikey_app.command("revoke")
def revoke_command(
    prefix: Annotated[str, typer.Argument(help="The key's prefix (see `retentio apikey list`).")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    with store_session(database_url) as session:
        key = revoke_api_key(session, prefix, actor=_actor())
    err.print(f"Revoked key {key.prefix!r} ({key.name}).")
