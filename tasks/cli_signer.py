"""``sweeper signer`` (the signer service) and ``sweeper keys`` (request keys, keystore files)."""

from __future__ import annotations

import getpass
import os
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sweeper.errors import ConfigError, SweeperError

keys_app = typer.Typer(help="Create the signer's request key and Web3 keystore files.", no_args_is_help=True)
err_console = Console(stderr=True)


def signer(
    host: Annotated[str | None, typer.Option(help="Interface to bind (SWEEPER_SIGNER__HOST).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (SWEEPER_SIGNER__PORT).")] = None,
) -> None:
    """Run the signer service: the only process given keys; signs only what the policy allows."""
    import uvicorn

    from tasks.cli import settings_or_exit
    from tasks.signer import create_app

    settings = settings_or_exit()
    try:
        app = create_app(settings)
    except (ConfigError, SweeperError) as exc:
        err_console.print("[bold red]the signer cannot start[/]")
        for problem in getattr(exc, "problems", None) or [str(exc)]:
            err_console.print(f"  - {problem}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    bind = host or settings.signer.host
    uvicorn.run(app, host=bind, port=port or settings.signer.port, workers=1, log_level="warning")


@keys_app.command("new-hmac-key")
def new_hmac_key(path: Annotated[Path, typer.Argument(help="File to create (mode 0600).")]) -> None:
    """Write a fresh random request key for the signer and its workers (SWEEPER_SIGNER__HMAC_KEY_FILE)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    err_console.print(f"wrote a new request key to {path}")


@keys_app.command("import")
def import_key(
    path: Annotated[Path, typer.Argument(help="Web3 secret storage file to create (mode 0600).")],
) -> None:
    """Read a private key (hex) from stdin and write it as a Web3 secret storage file.

    The password is read from SWEEPER_KEYS__KEYSTORE_PASSWORD_FILE if set, else asked for.
    """
    from sweeper.keys.web3 import write_keyfile
    from tasks.cli import settings_or_exit
    from tasks.custody import keystore_password

    settings = settings_or_exit()
    password = keystore_password(settings) or getpass.getpass("keystore password: ")
    line = sys.stdin.readline().strip().removeprefix("0x")
    try:
        key = bytes.fromhex(line)
        address = write_keyfile(path, key, password)
    except (ValueError, SweeperError) as exc:
        message = str(exc) if isinstance(exc, SweeperError) else "the input is not a hex private key"
        err_console.print(f"[bold red]not imported:[/] {message}", highlight=False)
        raise typer.Exit(2) from None
    err_console.print(f"wrote the key of {address} to {path}")


def register(app: typer.Typer) -> None:
    app.command("signer")(signer)
    app.add_typer(keys_app, name="keys")
