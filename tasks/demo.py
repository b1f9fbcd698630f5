"""`sweeper demo`: the whole product on the embedded default, with nothing to install or start.

A devnet (TRON node + three providers), an SQLite ledger, an SQLite-backed Celery broker, one worker
process, beat and the callback receiver. Deposits land on many addresses in mixed states; the scanner
finds them; everything eligible is swept; a summary prints and the exit code says whether it all worked.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from config.settings import load_settings
from devnet.crypto import generate_key
from devnet.server import Devnet
from sweeper.errors import SweeperError
from sweeper.keys import MnemonicKeyring
from sweeper.ledger import create_engine_for, upgrade
from sweeper.ledger.records import DepositAddress, Sweep
from sweeper.ledger.repository import Ledger
from sweeper.models import ENERGY_TRANSFER_TO_HOLDER, SUN_PER_TRX, SweepState
from tasks.devnet_profile import DEVNET_MNEMONIC, devnet_env
from tasks.processes import ProcessGroup, free_port
from tasks.sources import build_http_client, build_sources

TRX = SUN_PER_TRX
USDT = 1_000_000
TERMINAL = {SweepState.CONFIRMED, SweepState.SKIPPED, SweepState.FAILED}


@dataclass(frozen=True, slots=True)
class Deposit:
    address: str
    amount: int
    kind: str  # activated | not_activated | below_threshold | blacklisted

    @property
    def eligible(self) -> bool:
        return self.kind in ("activated", "not_activated")


def plan_deposits(addresses: list[str]) -> list[Deposit]:
    """Mostly ordinary deposits, some on never-activated addresses, a little dust and one blacklisted."""
    plan = []
    for i, address in enumerate(addresses):
        if i % 10 == 9:
            plan.append(Deposit(address, USDT // 5, "below_threshold"))
        elif i == 7:
            plan.append(Deposit(address, 1_000 * USDT, "blacklisted"))
        elif i % 3 == 2:
            plan.append(Deposit(address, (150 + 7 * i) * USDT, "not_activated"))
        else:
            plan.append(Deposit(address, (100 + 13 * i) * USDT, "activated"))
    return plan


def run_demo(count: int = 24, workdir: Path | None = None, timeout: float = 300.0) -> int:
    console = Console()
    workdir = workdir or Path("var") / f"demo-{int(time.time())}"
    workdir.mkdir(parents=True, exist_ok=True)
    console.rule("[bold]Sweeper demo[/] — devnet, SQLite ledger, embedded broker, worker, beat, receiver")
    devnet = Devnet(port=0, block_time=1.0, solid_depth=3, callback_time_scale=0.05)
    devnet.start()
    group = ProcessGroup(env={}, workdir=workdir)
    try:
        console.print(
            f"devnet node {devnet.node_url}  providers: "
            + ", ".join(f"{name} :{port}" for name, port in devnet.ports().items() if name != "node")
        )
        _, hot = generate_key()
        devnet.chain.fund(hot, 10 * TRX)
        # A working hot wallet already holds USDT, so each transfer needs 64,285 energy.
        devnet.chain.mint(hot, 1 * USDT)
        db = f"sqlite:///{(workdir / 'ledger.sqlite3').resolve()}"
        upgrade(db)
        ledger = Ledger(create_engine_for(db))
        mnemonic = workdir / "mnemonic.txt"
        mnemonic.write_text(DEVNET_MNEMONIC)
        mnemonic.chmod(0o600)
        ring = MnemonicKeyring(DEVNET_MNEMONIC)
        addresses = [ring.derive(i) for i in range(count)]
        ledger.add_addresses(
            DepositAddress(a, f"mnemonic:{i}", f"customer-{i}") for i, a in enumerate(addresses)
        )
        web_port = free_port()
        group.env = devnet_env(
            devnet,
            database_url=db,
            broker_url=f"sqla+sqlite:///{(workdir / 'broker.sqlite3').resolve()}",
            destination=hot,
            mnemonic_file=str(mnemonic.resolve()),
            callback_public_url=f"http://127.0.0.1:{web_port}",
            confirmations=3,
            poll_seconds=1.0,
            extra={
                "SWEEPER_SCAN_INTERVAL_SECONDS": "2",
                "SWEEPER_RECONCILE_INTERVAL_SECONDS": "10",
                "SWEEPER_LOG_FORMAT": "json",
                "SWEEPER_ENERGY__MAX_PERCENT_OF_AMOUNT": "10",
            },
        )
        ledger.set_cursor("blocks", devnet.chain.head_number())
        group.web(web_port)
        group.worker("worker", concurrency=2)
        group.beat()
        console.print(f"hot wallet {hot}; {count} deposit addresses watched; processes logging to {workdir}/")

        plan = plan_deposits(addresses)
        for deposit in plan:
            if deposit.kind in ("activated", "below_threshold", "blacklisted"):
                devnet.chain.fund(deposit.address, 1 * TRX)
            if deposit.kind == "blacklisted":
                devnet.chain.set_blacklisted(deposit.address)
        devnet.chain.produce_blocks(1)
        started = time.time()
        for deposit in plan:
            devnet.chain.mint(deposit.address, deposit.amount)
        console.print(f"minted {sum(d.amount for d in plan) / USDT:,.2f} USDT over {count} deposits")

        sweeps = _wait(console, ledger, plan, timeout, group)
        elapsed = time.time() - started
        floor = _cheapest_quote(dict(group.env), addresses[0], ENERGY_TRANSFER_TO_HOLDER)
        ok = _summary(
            console,
            devnet=devnet,
            ledger=ledger,
            plan=plan,
            sweeps=sweeps,
            hot=hot,
            elapsed=elapsed,
            floor=floor,
        )
        return 0 if ok else 1
    finally:
        group.stop()
        devnet.stop()


def _wait(
    console: Console, ledger: Ledger, plan: list[Deposit], timeout: float, group: ProcessGroup
) -> list[Sweep]:
    expected = len(plan)
    deadline = time.monotonic() + timeout
    sweeps: list[Sweep] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("sweeping", total=expected)
        while time.monotonic() < deadline:
            sweeps = ledger.sweeps(limit=100_000)
            done = {s.address for s in sweeps if s.state in TERMINAL}
            progress.update(task, completed=len(done))
            if len(done) >= expected and all(s.state in TERMINAL for s in sweeps):
                break
            dead = [name for name, proc in group.children.items() if proc.poll() is not None]
            if dead:
                console.print(f"[red]process(es) {', '.join(dead)} exited; see their logs[/]")
                break
            time.sleep(1.0)
    return sweeps


def _cheapest_quote(env: dict[str, str], address: str, energy: int) -> int | None:
    """The floor: the lowest total any configured provider quotes right now for one transfer's energy."""
    overrides: dict[str, Any] = _nested(env)
    settings = load_settings(**overrides)
    with build_http_client() as http:
        quotes = []
        for source in build_sources(settings, http).values():
            try:
                quotes.append(source.quote(address, energy).total_sun)
            except SweeperError:
                continue
    return min(quotes) if quotes else None


def _nested(env: dict[str, str]) -> dict[str, object]:
    """Turn SWEEPER_A__B=value variables into Settings keyword arguments."""
    out: dict[str, object] = {}
    for key, value in env.items():
        parts = key.removeprefix("SWEEPER_").lower().split("__")
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            assert isinstance(child, dict)
            node = child
        node[parts[-1]] = value
    return out


def _summary(
    console: Console,
    *,
    devnet: Devnet,
    ledger: Ledger,
    plan: list[Deposit],
    sweeps: list[Sweep],
    hot: str,
    elapsed: float,
    floor: int | None,
) -> bool:
    by_address: dict[str, list[Sweep]] = {}
    for sweep in sweeps:
        by_address.setdefault(sweep.address, []).append(sweep)
    confirmed = [s for s in sweeps if s.state is SweepState.CONFIRMED]
    eligible = [d for d in plan if d.eligible]
    expected_total = sum(d.amount for d in eligible)
    hot_balance = devnet.chain.token_balance(hot) - 1 * USDT
    costs = [s.cost_sun for s in confirmed]
    latencies = [(s.updated_at - s.created_at).total_seconds() for s in confirmed]

    table = Table(title="Sweeper demo summary")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("deposits", str(len(plan)))
    for state in (SweepState.CONFIRMED, SweepState.SKIPPED, SweepState.FAILED):
        table.add_row(f"sweeps {state.value.lower()}", str(sum(1 for s in sweeps if s.state is state)))
    table.add_row("swept to hot wallet", f"{Decimal(hot_balance) / USDT:,.2f} USDT")
    table.add_row("expected", f"{Decimal(expected_total) / USDT:,.2f} USDT")
    if costs:
        table.add_row("cost per sweep (mean)", f"{Decimal(int(statistics.mean(costs))) / TRX:.3f} TRX")
        table.add_row("cost per sweep (max)", f"{Decimal(max(costs)) / TRX:.3f} TRX")
    if floor is not None:
        table.add_row("cheapest quote for 64,285 energy", f"{Decimal(floor) / TRX:.3f} TRX")
    table.add_row(
        "burning TRX instead would cost", f"{Decimal(ENERGY_TRANSFER_TO_HOLDER * 100) / TRX:.3f} TRX+"
    )
    if latencies:
        ordered = sorted(latencies)
        table.add_row("latency p50", f"{statistics.median(ordered):.1f} s")
        table.add_row("latency p95", f"{ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]:.1f} s")
    table.add_row("wall time", f"{elapsed:.1f} s")
    console.print(table)

    skipped = [s for s in sweeps if s.state is SweepState.SKIPPED]
    if skipped:
        reasons = Table(title="skipped, with reasons")
        reasons.add_column("address")
        reasons.add_column("reason")
        for s in skipped:
            reasons.add_row(s.address, (s.reason or "")[:90])
        console.print(reasons)

    problems = [
        d.address
        for d in eligible
        if [s.state for s in by_address.get(d.address, [])] != [SweepState.CONFIRMED]
    ]
    ok = not problems and hot_balance == expected_total
    if ok:
        console.print("[bold green]every eligible deposit was swept exactly once[/]")
    else:
        console.print(f"[bold red]{len(problems)} deposit(s) not swept as expected[/]: {problems[:5]}")
    return ok
