"""``sweeper scan | sweep | demo``: detection and sweeping by hand, in-process or through the workers."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from sweeper.detect.scanner import commit, scan
from sweeper.detect.watchset import WatchSet
from sweeper.errors import SweeperError
from sweeper.models import TERMINAL_STATES

if TYPE_CHECKING:
    from tasks.runtime import Runtime

console = Console()
err = Console(stderr=True)


def _runtime() -> Runtime:
    from tasks.cli import settings_or_exit
    from tasks.runtime import build_runtime

    return build_runtime(settings_or_exit())


def _send(name: str, **kwargs: object) -> str:
    """Queue a task with a bare client: queueing needs the broker URL only, not the workers' settings."""
    from celery import Celery

    from config.celery import celery_settings
    from tasks.cli import settings_or_exit

    settings = settings_or_exit(without=frozenset({"destination", "energy"}))
    client = Celery("sweeper-cli")
    client.conf.update(celery_settings(settings.broker_url, settings.result_backend))
    try:
        return str(client.send_task(name, kwargs=kwargs).id)
    finally:
        client.close()


def scan_cmd(
    local: Annotated[
        bool, typer.Option("--local", help="Scan in this process and sweep hits here too.")
    ] = False,
    max_blocks: Annotated[int, typer.Option(help="At most this many blocks (with --local).")] = 1000,
) -> None:
    """Scan new blocks for deposits now (default: ask the workers; --local: do it here)."""
    if not local:
        console.print(f"queued sweeper.scan_blocks (task {_send('sweeper.scan_blocks')})")
        return
    rt = _runtime()
    watched = WatchSet.load(rt.ledger)
    with console.status("scanning blocks…"):
        result = scan(
            rt.chain,
            rt.ledger,
            watched,
            list(rt.flow.config.tokens),
            confirmations=rt.settings.confirmations,
            max_blocks=max_blocks,
        )
    opened = []
    for hit in result.hits:
        sweep = rt.flow.detect(hit.address, hit.contract, block=hit.block, record_dust=True)
        if sweep is not None:
            opened.append(sweep.id)
    commit(rt.ledger, result)
    console.print(
        f"blocks {result.from_block}..{result.to_block}: {result.transfers} transfers to watched addresses "
        f"({len(result.hits)} address and token pairs), {len(opened)} sweeps opened, "
        f"{result.lag_blocks} blocks still behind"
    )


def sweep_cmd(
    address: Annotated[str, typer.Argument(help="The deposit address to sweep.")],
    local: Annotated[
        bool, typer.Option("--local", help="Drive the sweep in this process until it ends.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --local.")] = 300.0,
) -> None:
    """Sweep one deposit address now (default: through the workers; --local: here, showing progress)."""
    from sweeper.chain.addresses import validate  # not tasks.sweeping: that loads the workers' app

    try:
        addr = validate(address.strip())
    except SweeperError:
        err.print(
            f"[bold red]error:[/] {escape(repr(address[:64]))} is not a valid TRON address",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from None
    if not local:
        _refuse_unwatched(addr)  # before anything is queued: a worker would only reject it later
        console.print(
            f"queued sweeper.sweep_address for {addr} (task {_send('sweeper.sweep_address', address=addr)})"
        )
        return
    rt = _runtime()
    if rt.ledger.get_address(addr) is None:
        raise _unwatched(addr)
    sweeps = [
        s for c in rt.flow.config.tokens if (s := rt.flow.detect(addr, c, record_dust=True)) is not None
    ]
    if not sweeps:
        console.print(f"{addr}: nothing to sweep")
        return
    deadline = time.monotonic() + timeout
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        tasks = {s.id: progress.add_task(f"sweep {s.id} {s.token_symbol}", total=None) for s in sweeps}
        open_ids = set(tasks)
        while open_ids and time.monotonic() < deadline:
            for sid in list(open_ids):
                try:
                    step = rt.flow.advance(sid)
                except SweeperError as exc:
                    progress.update(tasks[sid], description=f"sweep {sid}: waiting ({exc.reason})")
                    continue
                progress.update(tasks[sid], description=f"sweep {sid}: {step.state.value}")
                if step.state in TERMINAL_STATES:
                    open_ids.discard(sid)
            time.sleep(0.5)
    for s in sweeps:
        final = rt.ledger.get_sweep(s.id)
        if final is not None:
            console.print(
                f"sweep {final.id}: {final.state.value} {final.reason or ''} txid={final.txid or '-'}"
            )
    if open_ids:
        raise typer.Exit(1)


def _unwatched(addr: str) -> typer.Exit:
    err.print(
        f"[bold red]error:[/] {addr} is not a watched deposit address; nothing queued "
        "(watch it with `sweeper addresses import` or `sweeper addresses derive`)",
        highlight=False,
        soft_wrap=True,
    )
    return typer.Exit(2)


def _refuse_unwatched(addr: str) -> None:
    """Exit 2 unless the ledger watches ``addr`` (read with the ledger-only settings of ``status``)."""
    from tasks.cli_status import ledger_target, open_ledger

    with open_ledger(ledger_target()) as ledger:
        watched = ledger.get_address(addr) is not None
    if not watched:
        raise _unwatched(addr)


def demo_cmd(
    count: Annotated[int, typer.Option(min=4, max=500, help="How many deposit addresses.")] = 24,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every sweep.")] = 300.0,
) -> None:
    """Run everything on the embedded default (devnet, SQLite, embedded broker) and print a summary."""
    from tasks.demo import run_demo

    raise typer.Exit(run_demo(count=count, timeout=timeout))


def register(app: typer.Typer) -> None:
    app.command("scan")(scan_cmd)
    app.command("sweep")(sweep_cmd)
    app.command("demo")(demo_cmd)
