"""The `sweeper` command line: the operator's entry point to the devnet, the demo and the ledger."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from config.settings import (
    BANDWIDTH_SOURCES,
    InvalidSettings,
    Settings,
    load_settings,
    unknown_variable_warnings,
)
from tasks import cli_errors
from tasks.cli_output import quiet_logging, version_text

app = typer.Typer(
    name="sweeper",
    help="Sweep USDT-TRC20 and TRX from TRON deposit addresses into the hot wallet, exactly once, cheaply.",
    no_args_is_help=True,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect and validate configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

console = Console(stderr=False)
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Log at SWEEPER_LOG_LEVEL on stderr (default: warnings only)."),
    ] = False,
) -> None:
    """Sweep USDT-TRC20 and TRX from TRON deposit addresses into the hot wallet, exactly once, cheaply."""
    cli_errors.set_debug(debug)
    quiet_logging(verbose=verbose or debug)
    for warning in unknown_variable_warnings():
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


def settings_or_exit(without: frozenset[str] = frozenset()) -> Settings:
    """Load settings (``without`` the parts the command never uses) or print one line per problem, exit 2."""
    try:
        return load_settings(without=without)
    except InvalidSettings as exc:
        cli_errors.fail_lines([f"invalid configuration: {problem}" for problem in exc.problems])
        raise typer.Exit(2) from None


@config_app.command("check")
def config_check() -> None:
    """Validate SWEEPER_* settings (and .env); print what is wrong, one line per problem."""
    settings = settings_or_exit()
    from tasks.startup import readiness

    found = readiness(settings)
    for warning in found.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if found.problems:  # one line each, never wrapped
        cli_errors.fail_lines([f"invalid configuration: {problem}" for problem in found.problems])
        raise typer.Exit(2)
    console.print("[green]configuration is valid[/]")
    console.print(f"  node:         {settings.tron.node_url}")
    console.print(f"  database:     {_mask_url(settings.database_url)}")
    console.print(f"  broker:       {_mask_url(settings.broker_url)}")
    console.print(f"  energy order: {', '.join(settings.energy.order) or '(none)'}")
    for token in settings.tokens:
        console.print(
            f"  token {token.symbol}: {token.contract} → {settings.destination_of(token.contract)}"
            f" (min {token.min_amount} units)"
        )
    bandwidth = [s for s in settings.energy.order if s in BANDWIDTH_SOURCES]
    console.print(f"  bandwidth:    {', '.join(bandwidth) or '(none: addresses wait for free bandwidth)'}")
    for warning in settings.warnings():
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def _mask_url(url: str) -> str:
    """Hide a password inside a URL before printing it."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


@app.command()
def devnet(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Node port; each provider takes it plus its offset (itrx 1, ea888fee 2, …).")
    ] = 9090,
    block_time: Annotated[float, typer.Option(help="Seconds between blocks.")] = 3.0,
    solid_depth: Annotated[int, typer.Option(help="Blocks behind head that count as solid.")] = 18,
    state: Annotated[str | None, typer.Option(help="JSON file to load and persist chain state.")] = None,
) -> None:
    """Run the local TRON network and the energy-provider simulators."""
    from devnet.server import main as devnet_main

    argv = ["--host", host, "--port", str(port), "--block-time", str(block_time)]
    argv += ["--solid-depth", str(solid_depth)]
    if state:
        argv += ["--state", state]
    raise typer.Exit(devnet_main(argv))


def _mount() -> None:
    """Mount the sub-commands; each module registers its own."""
    from tasks import cli_doctor, cli_guards, cli_ops, cli_signer, cli_status, flower
    from tasks.cli_addresses import addresses_app
    from tasks.cli_energy import energy_app

    app.add_typer(energy_app, name="energy", help="Energy provider quotes and balances.")
    app.add_typer(addresses_app, name="addresses", help="Derive, import and list deposit addresses.")
    cli_status.register(app)
    cli_guards.register(app)
    cli_ops.register(app)
    cli_doctor.register(app)
    cli_signer.register(app)
    flower.register(app)


_mount()


def main() -> None:
    """Console-script entry point: one line per error (tracebacks with --debug), see tasks/cli_errors.py."""
    cli_errors.main(app)


if __name__ == "__main__":
    main()
