"""`retentio push vapid-keys`: the key pair that signs Web Push messages."""

# No `from __future__ import annotations`: Typer reads the annotations as objects.

import os
from pathlib import Path
from typing import Annotated

import typer

from retentio.channels import generate_vapid_key
from retentio.cli.app import app, err, out
from retentio.core.errors import ConfigurationError

__all__ = ["push_app"]

push_app = typer.Typer(help="Set up Web Push.", no_args_is_help=True)
app.add_typer(push_app, name="push")


@push_app.command("vapid-keys")
def vapid_keys_command(
    output: Annotated[
        Path, typer.Option("--out", "-o", help="Where the private key goes (PEM, mode 0600).")
    ] = Path("vapid-private.pem"),
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Make a VAPID key pair: the private key into a file for RETENTIO_VAPID_PRIVATE_KEY_FILE,
    the public key printed for the site's pushManager.subscribe() (also served at
    /api/v1/push/vapid-public-key)."""
    if output.exists() and not force:
        raise ConfigurationError(
            f"{output} exists; keep it (subscriptions depend on it) or --force"
        )
    pem, public_key = generate_vapid_key()
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    err.print(f"Wrote the private key to {output}; set RETENTIO_VAPID_PRIVATE_KEY_FILE={output}")
    err.print("The public key (applicationServerKey):")
    out.print(public_key, highlight=False, soft_wrap=True)
