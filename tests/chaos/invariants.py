"""The safety invariants (docs/ARCHITECTURE.md §7) every chaos scenario ends by checking, against the chain.

``check_invariants(devnet, ledger, plan, hot)`` raises AssertionError listing every violation;
``audit(...)`` returns the same findings (plus counts) without raising, for the soak's figures.

``plan`` maps each *eligible* deposit address to the token amount deposited on it: each must be swept
exactly once, in full, to ``hot``. ``untouched`` maps addresses that must never be swept (below the
minimum, blacklisted, ...) to the amount they must still hold. What is checked:

1. exactly once: one CONFIRMED sweep per eligible address (no other sweep), one on-chain Transfer out of
   it, to ``hot``, of the planned amount; the address is left empty;
2. the hot wallet's balance is what was minted to it plus the sum of the plan;
3. no duplicate provider order: every one of our order numbers has at most one order in the devnet
   providers' own books, every such order is in the ledger, and per (sweep, attempt, step) at most one
   ledger order is not FAILED;
4. no transaction included twice, and at most one transfer of each sweep included;
5. no USDT moved anywhere but ``hot`` (every non-mint Transfer on chain goes to ``hot``);
6. the ledger agrees with the chain: every CONFIRMED sweep's txid is mined with SUCCESS and moved that
   sweep's amount, no transaction the ledger calls EXPIRED is on chain, and every sweep's history is a
   legal path of the state machine.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devnet.blocks import TxRecord
from devnet.providers.orders import Order, OrderBook
from devnet.render import b58
from devnet.server import Devnet
from devnet.usdt import TRANSFER_TOPIC, ZERO_HEX
from sweeper.ledger.records import OrderRequestStatus, Sweep, TxKind, TxStatus
from sweeper.ledger.repository import Ledger
from sweeper.models import USDT_MAINNET, SweepState

S = SweepState
LEGAL_MOVES: frozenset[tuple[SweepState | None, SweepState]] = frozenset(
    {
        (None, S.DETECTED),
        (S.DETECTED, S.SKIPPED),
        (S.DETECTED, S.ACTIVATING),
        (S.DETECTED, S.ENERGY_ORDERED),
        (S.DETECTED, S.ENERGY_READY),
        (S.ACTIVATING, S.ENERGY_ORDERED),
        (S.ENERGY_ORDERED, S.ENERGY_READY),
        (S.ENERGY_READY, S.SIGNED),
        (S.ENERGY_READY, S.SKIPPED),  # the balance left before signing
        (S.SIGNED, S.BROADCAST),
        (S.SIGNED, S.ENERGY_READY),  # expired before it could be broadcast
        (S.BROADCAST, S.ENERGY_READY),  # expired and provably not on chain: sign a new one
        (S.BROADCAST, S.CONFIRMED),
        (S.FAILED, S.DETECTED),  # `sweeper retry`
    }
    | {(s, S.FAILED) for s in (S.DETECTED, S.ACTIVATING, S.ENERGY_ORDERED, S.ENERGY_READY, S.SIGNED)}
    | {(S.BROADCAST, S.FAILED)}
)
OUR_ORDER_NO = re.compile(r"^sw(?P<deployment>[0-9a-z]+)s(?P<sweep>\d+)a(?P<attempt>\d+)o(?P<n>\d+)$")
"""Our order numbers (``sweeper/procurement.py``): deployment id, sweep, attempt, order within the attempt."""


@dataclass(frozen=True, slots=True)
class Transfer:
    """A TRC20 Transfer log as mined."""

    txid: str
    block: int
    contract: str
    sender: str
    receiver: str
    amount: int


@dataclass
class Audit:
    """What the invariant checks found; ``problems`` is empty when every invariant holds."""

    swept: int = 0
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.problems.append(message)


def check_invariants(
    devnet: Devnet,
    ledger: Ledger,
    plan: Mapping[str, int],
    hot: str,
    *,
    untouched: Mapping[str, int] | None = None,
    contract: str = USDT_MAINNET,
) -> Audit:
    """Assert every safety invariant after a scenario; the message lists every violation found."""
    found = audit(devnet, ledger, plan, hot, untouched=untouched, contract=contract)
    assert not found.problems, "invariants violated:\n  " + "\n  ".join(found.problems)
    return found


def audit(
    devnet: Devnet,
    ledger: Ledger,
    plan: Mapping[str, int],
    hot: str,
    *,
    untouched: Mapping[str, int] | None = None,
    contract: str = USDT_MAINNET,
) -> Audit:
    """Check every invariant and return what was found, without raising."""
    result = Audit()
    records = mined_transactions(devnet)
    transfers = [t for rec, number in records for t in _transfers(rec, number) if t.contract == contract]
    sweeps = ledger.sweeps(limit=1_000_000)
    _exactly_once(result, devnet, plan, hot, sweeps, transfers, contract)
    _untouched(result, devnet, untouched or {}, transfers, contract)
    _hot_balance(result, devnet, plan, hot, transfers, contract)
    _only_to_hot(result, hot, transfers, sweeps)
    _transactions(result, ledger, sweeps, records, transfers)
    _orders(result, devnet, ledger, sweeps)
    _histories(result, ledger, sweeps)
    return result


# -- the chain ----------------------------------------------------------------------------------------


def mined_transactions(devnet: Devnet) -> list[tuple[TxRecord, int]]:
    """Every mined transaction with its block number, oldest first."""
    chain = devnet.chain
    with chain.lock:
        blocks = list(chain.blocks)
    return [(rec, block.number) for block in blocks for rec in block.txs]


def _transfers(rec: TxRecord, number: int) -> list[Transfer]:
    out = []
    for entry in rec.info.get("log") or ():
        topics = entry.get("topics") or []
        if len(topics) == 3 and topics[0] == TRANSFER_TOPIC:
            out.append(
                Transfer(
                    txid=rec.txid,
                    block=number,
                    contract=b58("41" + entry["address"]),
                    sender=b58("41" + topics[1][24:]),
                    receiver=b58("41" + topics[2][24:]),
                    amount=int(entry["data"], 16),
                )
            )
    return out


def provider_books(devnet: Devnet) -> list[OrderBook]:
    """The devnet providers' own order books (each registers itself as a block listener)."""
    chain = devnet.chain
    with chain.lock:
        listeners = list(chain._callbacks)
    return [book for cb in listeners if isinstance(book := getattr(cb, "__self__", None), OrderBook)]


# -- the checks ---------------------------------------------------------------------------------------


def _exactly_once(
    result: Audit,
    devnet: Devnet,
    plan: Mapping[str, int],
    hot: str,
    sweeps: list[Sweep],
    transfers: list[Transfer],
    contract: str,
) -> None:
    by_address: dict[str, list[Sweep]] = {}
    for sweep in sweeps:
        by_address.setdefault(sweep.address, []).append(sweep)
    outgoing: dict[str, list[Transfer]] = {}
    for t in transfers:
        outgoing.setdefault(t.sender, []).append(t)
    for address, amount in plan.items():
        mine = [s for s in by_address.get(address, []) if s.token_contract == contract]
        moved = outgoing.get(address, [])
        confirmed = [s for s in mine if s.state is SweepState.CONFIRMED]
        if len(moved) > 1 or len(confirmed) > 1:
            result.duplicates.append(address)
            result.fail(f"{address}: swept {len(moved)} times on chain, {len(confirmed)} CONFIRMED sweeps")
        elif not moved:
            result.lost.append(address)
            states = [(s.id, s.state.value, s.reason) for s in mine]
            result.fail(f"{address}: never swept on chain (ledger: {states})")
        else:
            result.swept += 1
        if [s.state for s in mine] != [SweepState.CONFIRMED]:
            states = [(s.id, s.state.value, s.reason) for s in mine]
            result.fail(f"{address}: expected exactly one CONFIRMED sweep, ledger has {states}")
        for t in moved:
            if t.receiver != hot or t.amount != amount:
                result.fail(f"{address}: transfer {t.txid} sent {t.amount} to {t.receiver}, planned {amount}")
        for s in confirmed:
            if s.amount != amount:
                result.fail(f"{address}: sweep {s.id} recorded amount {s.amount}, planned {amount}")
        left = devnet.chain.token_balance(address, contract)
        if left != 0:
            result.fail(f"{address}: still holds {left} after its sweep")


def _untouched(
    result: Audit, devnet: Devnet, untouched: Mapping[str, int], transfers: list[Transfer], contract: str
) -> None:
    senders = {t.sender for t in transfers}
    for address, amount in untouched.items():
        if address in senders:
            result.fail(f"{address}: must not be swept, but a transfer left it")
        held = devnet.chain.token_balance(address, contract)
        if held != amount:
            result.fail(f"{address}: must still hold {amount}, holds {held}")


def _hot_balance(
    result: Audit,
    devnet: Devnet,
    plan: Mapping[str, int],
    hot: str,
    transfers: list[Transfer],
    contract: str,
) -> None:
    zero = b58(ZERO_HEX)
    minted = sum(t.amount for t in transfers if t.sender == zero and t.receiver == hot)
    balance = devnet.chain.token_balance(hot, contract)
    expected = minted + sum(plan.values())
    if balance != expected:
        result.fail(f"hot wallet holds {balance}, expected {minted} minted + {sum(plan.values())} swept")


def _only_to_hot(result: Audit, hot: str, transfers: list[Transfer], sweeps: list[Sweep]) -> None:
    zero = b58(ZERO_HEX)
    for t in transfers:
        if t.sender != zero and t.receiver != hot:
            result.fail(
                f"transfer {t.txid} moved {t.amount} from {t.sender} to {t.receiver}, not the hot wallet"
            )
    for s in sweeps:
        if s.destination != hot:
            result.fail(f"sweep {s.id} has destination {s.destination}, not the hot wallet")


def _transactions(
    result: Audit,
    ledger: Ledger,
    sweeps: list[Sweep],
    records: list[tuple[TxRecord, int]],
    transfers: list[Transfer],
) -> None:
    counts = Counter(rec.txid for rec, _ in records)
    for txid, n in counts.items():
        if n > 1:
            result.duplicates.append(txid)
            result.fail(f"transaction {txid} is included {n} times")
    mined = {rec.txid: rec for rec, _ in records}
    moved = {t.txid: t for t in transfers}
    for s in sweeps:
        stored = ledger.txs_for_sweep(s.id, TxKind.TRANSFER)
        included = [t for t in stored if t.txid in mined]
        if len(included) > 1:
            result.duplicates.append(f"sweep {s.id}")
            result.fail(f"sweep {s.id}: {len(included)} of its transfers are on chain")
        for t in stored:
            if t.status is TxStatus.EXPIRED and t.txid in mined:
                result.fail(f"sweep {s.id}: transaction {t.txid} is EXPIRED in the ledger but mined")
        if s.state is SweepState.CONFIRMED:
            rec = mined.get(s.txid or "")
            if rec is None or rec.contract_ret != "SUCCESS":
                result.fail(f"sweep {s.id}: CONFIRMED but {s.txid} is not mined with SUCCESS")
            elif s.token_contract == "TRX":
                continue  # a leftover-TRX sweep moves native TRX: no Transfer log to compare
            elif (log := moved.get(rec.txid)) is None or (log.sender, log.amount) != (s.address, s.amount):
                result.fail(f"sweep {s.id}: {s.txid} did not move {s.amount} from {s.address}")


def _orders(result: Audit, devnet: Devnet, ledger: Ledger, sweeps: list[Sweep]) -> None:
    by_ref: dict[str, list[Order]] = {}
    for book in provider_books(devnet):
        for order in book.all():
            if order.ref and OUR_ORDER_NO.match(order.ref):
                by_ref.setdefault(order.ref, []).append(order)
    known: set[str] = set()
    for s in sweeps:
        live: Counter[tuple[int, str]] = Counter()
        for record in ledger.orders_for_sweep(s.id):
            known.add(record.order_no)
            match = OUR_ORDER_NO.match(record.order_no)
            if match is None:
                result.fail(f"sweep {s.id}: order number {record.order_no!r} is not ours")
                continue
            attempt = int(match.group("attempt"))
            if record.status is not OrderRequestStatus.FAILED:
                live[(attempt, record.step)] += 1
        for (attempt, step), n in live.items():
            if n > 1:
                result.duplicates.append(f"sweep {s.id} {step}")
                result.fail(f"sweep {s.id} attempt {attempt}: {n} live {step} orders in the ledger")
    for ref, orders in by_ref.items():
        if len(orders) > 1:
            result.duplicates.append(ref)
            result.fail(f"order number {ref}: {len(orders)} provider orders ({_ids(orders)})")
        if ref not in known:
            result.fail(f"order number {ref}: placed at a provider but not in the ledger")


def _histories(result: Audit, ledger: Ledger, sweeps: list[Sweep]) -> None:
    for s in sweeps:
        rows = ledger.history(s.id)
        current: SweepState | None = None
        for row in rows:
            if row.from_state != current:
                result.fail(
                    f"sweep {s.id}: history jumps from {current} to a row starting at {row.from_state}"
                )
            if (row.from_state, row.to_state) not in LEGAL_MOVES:
                result.fail(f"sweep {s.id}: illegal move {row.from_state} -> {row.to_state}")
            current = row.to_state
        if current != s.state:
            result.fail(f"sweep {s.id}: history ends at {current}, the sweep is {s.state}")


def _ids(orders: list[Order]) -> str:
    return ", ".join(f"{o.id}:{o.state}" for o in orders)


def describe(found: Audit) -> dict[str, Any]:
    """The audit's figures as a plain dict (for printing and the reliability report)."""
    return {
        "swept": found.swept,
        "duplicates": len(found.duplicates),
        "lost": len(found.lost),
        "problems": len(found.problems),
    }
