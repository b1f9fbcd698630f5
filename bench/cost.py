"""Benchmark 4: TRX per sweep, against burning, a flat top-up, and the cheapest quote (the floor).

Every figure is measured on the devnet chain (its own process), none is computed from a price list:

- **sweeper**: the product's flow (every rental source the registry and the devnet both know, so all
  of them as soon as a provider's two modules exist; the policy picks) sweeps
  deposits on activated addresses and on never-activated ones; its cost is what the ledger records
  (what the providers charged plus TRX burned on chain).
- **charged vs quoted**: per source, what the chosen quotes said and what the provider charged (and
  refunded) for the same orders, from the ledger: a ratio far from 1 means the quote's unit is wrong.
- **floor**: just before each sweep, every rental provider is asked for a quote for that sweep's energy
  (and the activation where one is needed); that sweep's floor is the lowest total, and the reported
  floor is their mean.
- **burn**: the product's ``burn`` source alone: a gas wallet sends exactly the TRX the transfer burns.
- **second deposit the same day**: an address swept once today has spent most of its 600 free bytes, so
  its next transfer needs bandwidth as well: the sweeper rents the energy and the gas wallet (``burn``)
  sends exactly the TRX the bytes cost; the bandwidth part is reported apart.
- **flat top-up**: what common open-source sweepers do: send 40 TRX to each address, transfer with the
  energy burned from it, and leave the rest there. Cost = TRX that left the gas wallet; of it, what the
  transfer burned and what stays stranded on the deposit address are reported apart.

The flow is driven in-process (``Flow.advance`` until every sweep settles, as the Celery chain does):
cost does not depend on the delivery layer, and this keeps the benchmark short.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import TRX, DevnetProcess, quiet_logs, say, scaled

ACTIVATED = 100
NOT_ACTIVATED = 20
BURN_SWEEPS = 20
SECOND_SWEEPS = 20
FLAT_SWEEPS = 20
FLAT_TOP_UP = 40 * TRX
BLOCK_TIME = 0.5
KEYSTORE_PASSWORD = "bench devnet keystore"  # guards a devnet key only


def _settings(dn: DevnetProcess, workdir: Path, hot: str, order: str, extra: dict[str, str]) -> Any:
    from config.settings import Settings
    from tasks.devnet_profile import DEVNET_MNEMONIC

    mnemonic = workdir / "mnemonic.txt"
    mnemonic.write_text(DEVNET_MNEMONIC)
    values = {
        "SWEEPER_TRON__NODE_URL": dn.node_url,
        "SWEEPER_DATABASE_URL": f"sqlite:///{workdir / 'ledger.sqlite3'}",
        "SWEEPER_BROKER_URL": "memory://",
        "SWEEPER_DESTINATION": hot,
        "SWEEPER_CONFIRMATIONS": "1",
        "SWEEPER_POLL_SECONDS": "0.5",
        "SWEEPER_ENERGY__ORDER": order,
        "SWEEPER_KEYS__MNEMONIC_FILE": str(mnemonic),
        "SWEEPER_LOG_LEVEL": "WARNING",
        **_provider_env(dn),
        **extra,
    }
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        return Settings(_env_file=None)  # type: ignore[call-arg]
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def rental_sources() -> list[str]:
    """The rental providers the benchmark uses: every registered source the devnet simulates."""
    from devnet.providers.registry import simulators
    from sweeper.energy.registry import providers

    return [name for name in providers().names() if name in simulators()]


def _provider_env(dn: DevnetProcess) -> dict[str, str]:
    from tasks.devnet_profile import provider_env

    return {**provider_env(dn), "SWEEPER_ENERGY__ITRX__CALLBACKS": "false"}


def _deposits(
    dn: DevnetProcess, rt: Any, start: int, count: int, *, activate: bool, sun: int = 1 * TRX
) -> list[str]:
    """Watch ``count`` mnemonic-derived addresses from index ``start`` and put USDT on them (and, to
    activate them, ``sun`` of TRX)."""
    from sweeper.keys import MnemonicKeyring
    from sweeper.ledger.records import DepositAddress
    from tasks.devnet_profile import DEVNET_MNEMONIC

    ring = MnemonicKeyring(DEVNET_MNEMONIC)
    rows = [DepositAddress(ring.derive(i), f"mnemonic:{i}") for i in range(start, start + count)]
    rt.ledger.add_addresses(rows)
    for row in rows:
        if activate:
            dn.admin("fund", {"address": row.address, "sun": sun})
        dn.admin("mint", {"address": row.address, "amount": 250 * 1_000_000})
    dn.admin("produce", {"blocks": 1})
    return [r.address for r in rows]


def _sweep_all(rt: Any, addresses: list[str], timeout: float = 300.0) -> list[Any]:
    """Detect and advance every deposit until all sweeps settle (what the Celery tasks do)."""
    from sweeper.models import USDT_MAINNET, SweepState

    terminal = {SweepState.CONFIRMED, SweepState.SKIPPED, SweepState.FAILED}
    ids = []
    for address in addresses:
        sweep = rt.flow.detect(address, USDT_MAINNET)
        if sweep is not None:
            ids.append(sweep.id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        open_ids = [i for i in ids if rt.ledger.get_sweep(i).state not in terminal]
        if not open_ids:
            break
        for sweep_id in open_ids:
            rt.flow.advance(sweep_id)
        time.sleep(0.2)
    return [rt.ledger.get_sweep(i) for i in ids]


def _floor(rt: Any, address: str, hot: str, energy: int, *, activate: bool) -> dict[str, int]:
    """Every rental provider's quote now for this energy (and activation); the floor is the lowest."""
    from sweeper.errors import SweeperError

    quotes: dict[str, int] = {}
    for name, source in rt.sources.items():
        if activate and not source.capabilities.activation:
            continue
        try:
            quotes[name] = source.quote(address, energy, to=hot, activate=activate).total_sun
        except SweeperError:
            continue
    return quotes


def _stats(costs: list[int]) -> dict[str, Any]:
    return {
        "n": len(costs),
        "mean_sun": round(statistics.mean(costs)) if costs else None,
        "min_sun": min(costs, default=None),
        "max_sun": max(costs, default=None),
    }


def run() -> dict[str, Any]:
    quiet_logs()
    from sweeper.chain import TronChain
    from sweeper.keys import KeystoreKeyring
    from sweeper.ledger.migrate import upgrade
    from sweeper.models import ENERGY_TRANSFER_TO_HOLDER, SweepState
    from tasks.runtime import build_runtime

    out: dict[str, Any] = {}
    with DevnetProcess("--block-time", str(BLOCK_TIME)) as dn, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        hot = dn.admin("accounts", {"count": 1, "sun": 10 * TRX, "usdt": 1})["accounts"][0]["address"]
        gas = dn.admin("accounts", {"count": 1, "sun": 100_000 * TRX})["accounts"][0]
        keystore = work / "keystore.json"
        ring = KeystoreKeyring.create(keystore, KEYSTORE_PASSWORD, scrypt_n=2**12)
        ring.add(bytes.fromhex(gas["private_key"]))

        # --- the sweeper, renting energy --------------------------------------------------------
        rental = work / "rental"
        rental.mkdir()
        rentals = rental_sources()
        out["rental_sources"] = rentals
        settings = _settings(dn, rental, hot, ",".join(rentals), {})
        upgrade(settings.database_url)
        rt = build_runtime(settings)
        quiet_logs()
        try:
            n_act, n_new = scaled(ACTIVATED, 10), scaled(NOT_ACTIVATED, 4)
            say(f"[cost] sweeper: {n_act} deposits on activated addresses, {n_new} on new ones ...")
            activated = _deposits(dn, rt, 0, n_act, activate=True)
            fresh = _deposits(dn, rt, n_act, n_new, activate=False)
            floors = [_floor(rt, a, hot, ENERGY_TRANSFER_TO_HOLDER, activate=False) for a in activated]
            floors_new = [_floor(rt, a, hot, ENERGY_TRANSFER_TO_HOLDER, activate=True) for a in fresh]
            floor_holder, floor_new = floors[0], floors_new[0]
            swept = _sweep_all(rt, activated)
            swept_new = _sweep_all(rt, fresh)
            out["charged_vs_quoted"] = _charged_vs_quoted(rt.ledger)
        finally:
            rt.close()
        ok = [s for s in swept if s.state is SweepState.CONFIRMED]
        ok_new = [s for s in swept_new if s.state is SweepState.CONFIRMED]
        out["sweeper"] = {**_stats([s.cost_sun for s in ok]), "sources": _count(s.energy_source for s in ok)}
        out["sweeper_new_address"] = {
            **_stats([s.cost_sun for s in ok_new]),
            "sources": _count(s.energy_source for s in ok_new),
        }
        out["floor_quotes"] = floor_holder
        out["floor_per_sweep"] = _stats([min(q.values()) for q in floors])
        out["floor_sun"] = out["floor_per_sweep"]["mean_sun"]
        out["floor_new_address_quotes"] = floor_new
        out["floor_new_address_per_sweep"] = _stats([min(q.values()) for q in floors_new])
        out["floor_new_address_sun"] = out["floor_new_address_per_sweep"]["mean_sun"]
        out["unsettled"] = len(swept) + len(swept_new) - len(ok) - len(ok_new)

        # --- the product's burn source alone --------------------------------------------------------
        burn = work / "burn"
        burn.mkdir()
        extra = {
            "SWEEPER_ENERGY__BURN__GAS_WALLET": gas["address"],
            "SWEEPER_KEYS__KEYSTORE_FILE": str(keystore),
            "SWEEPER_KEYS__KEYSTORE_PASSWORD": KEYSTORE_PASSWORD,
            "SWEEPER_ENERGY__MAX_SUN_PER_SWEEP": str(20 * TRX),
            "SWEEPER_ENERGY__MAX_PERCENT_OF_AMOUNT": "50",
        }
        settings = _settings(dn, burn, hot, "burn", extra)
        upgrade(settings.database_url)
        rt = build_runtime(settings)
        quiet_logs()
        try:
            n_burn = scaled(BURN_SWEEPS, 4)
            say(f"[cost] burn: {n_burn} deposits on activated addresses ...")
            burned = _sweep_all(rt, _deposits(dn, rt, 10_000, n_burn, activate=True))
        finally:
            rt.close()
        out["burn"] = _stats([s.cost_sun for s in burned if s.state is SweepState.CONFIRMED])

        # --- a second deposit on the same addresses the same day: energy rented, bytes from burn --------
        again = work / "second"
        again.mkdir()
        settings = _settings(dn, again, hot, ",".join([*rentals, "burn"]), extra)
        upgrade(settings.database_url)
        rt = build_runtime(settings)
        quiet_logs()
        try:
            n_second = scaled(SECOND_SWEEPS, 4)
            say(f"[cost] second deposit the same day: {n_second} addresses swept twice ...")
            # on chain with one sun: no TRX of their own to burn for the second transfer's bytes
            addresses = _deposits(dn, rt, 30_000, n_second, activate=True, sun=1)
            _sweep_all(rt, addresses)  # the first sweep spends the free bytes
            for address in addresses:
                dn.admin("mint", {"address": address, "amount": 250 * 1_000_000})
            dn.admin("produce", {"blocks": 1})
            seconds = [s for s in _sweep_all(rt, addresses) if s.state is SweepState.CONFIRMED]
            bandwidth = [
                sum(o.cost_sun or 0 for o in rt.ledger.orders_for_sweep(s.id) if o.step == "bandwidth")
                for s in seconds
            ]
        finally:
            rt.close()
        out["second_same_day"] = {
            **_stats([s.cost_sun for s in seconds]),
            "bandwidth_mean_sun": round(statistics.mean(bandwidth)) if bandwidth else None,
            "unsettled": n_second - len(seconds),
        }

        # --- a flat 40 TRX top-up, the energy burned, the rest stranded ---------------------------------
        n_flat = scaled(FLAT_SWEEPS, 4)
        say(f"[cost] flat top-up: {n_flat} deposits, 40 TRX each ...")
        chain = TronChain(dn.node_url)
        try:
            out["flat"] = _flat_top_up(dn, chain, work, hot, gas, n_flat)
            out["energy_price_sun"] = chain.energy_price_sun()
        finally:
            chain.close()
    return out


def _charged_vs_quoted(ledger: Any) -> dict[str, dict[str, Any]]:
    """Per source: what the chosen quotes said, what the provider charged, refunded and really took."""
    from sweeper.ledger.stats import source_charges

    return {
        c.source: {
            "quoted_sun": c.quoted_sun,
            "charged_sun": c.charged_sun,
            "refunded_sun": c.refunded_sun,
            "cost_sun": c.cost_sun,
            "charged_over_quoted": round(c.charged_sun / c.quoted_sun, 4) if c.quoted_sun else None,
            "mismatches": c.mismatches,
        }
        for c in source_charges(ledger)
    }


def _flat_top_up(
    dn: DevnetProcess, chain: Any, work: Path, hot: str, gas: dict[str, str], n: int
) -> dict[str, Any]:
    """Send 40 TRX, transfer with the energy burned from it; measure what left the gas wallet."""
    from sweeper.keys import MnemonicKeyring
    from sweeper.keys.local import LocalSigner
    from sweeper.models import USDT_MAINNET
    from tasks.devnet_profile import DEVNET_MNEMONIC

    ring = MnemonicKeyring(DEVNET_MNEMONIC)
    gas_signer = LocalSigner(bytes.fromhex(gas["private_key"]))
    indexes = range(20_000, 20_000 + n)
    deposits = [ring.derive(i) for i in indexes]
    for address in deposits:
        dn.admin("fund", {"address": address, "sun": 1 * TRX})  # activated, like the other cases
        dn.admin("mint", {"address": address, "amount": 250 * 1_000_000})
    dn.admin("produce", {"blocks": 1})
    gas_before = chain.trx_balance(gas["address"])
    before = {a: chain.trx_balance(a) for a in deposits}
    top_ups = []
    for address in deposits:
        tx = chain.build_trx_transfer(gas_signer, address, FLAT_TOP_UP)
        chain.broadcast(tx)
        top_ups.append(tx.txid)
    _until_mined(chain, top_ups)
    transfers = []
    for index, address in zip(indexes, deposits, strict=True):
        amount = chain.token_balance(USDT_MAINNET, address)
        tx = chain.build_token_transfer(USDT_MAINNET, ring.signer(index), hot, amount, FLAT_TOP_UP)
        chain.broadcast(tx)
        transfers.append(tx.txid)
    receipts = _until_mined(chain, transfers)
    gas_spent = (gas_before - chain.trx_balance(gas["address"])) / n
    burned = [r.fee_sun for r in receipts]
    stranded = [chain.trx_balance(a) - before[a] for a in deposits]
    return {
        "n": n,
        "top_up_sun": FLAT_TOP_UP,
        "success": sum(1 for r in receipts if r.success),
        "cost_sun": round(gas_spent),
        "burned_mean_sun": round(statistics.mean(burned)),
        "stranded_mean_sun": round(statistics.mean(stranded)),
    }


def _until_mined(chain: Any, txids: list[str], timeout: float = 60.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    receipts: dict[str, Any] = {}
    while len(receipts) < len(txids) and time.monotonic() < deadline:
        for txid in txids:
            if txid not in receipts and (receipt := chain.receipt(txid)) is not None:
                receipts[txid] = receipt
        time.sleep(0.3)
    if len(receipts) < len(txids):
        raise RuntimeError(f"{len(txids) - len(receipts)} flat top-up transactions were never mined")
    return [receipts[t] for t in txids]


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[str(value)] = out.get(str(value), 0) + 1
    return out
