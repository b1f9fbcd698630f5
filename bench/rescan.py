"""Benchmark 2: the balance rescan (addresses/s) against a plain sequential tronpy loop, in the same run.

Two settings of the same devnet: the node on this machine (round trip ~0.1 ms), and the node behind an
emulated network round trip (the devnet's ``latency_ms`` fault), as when the workers reach a node in
another data centre. The naive loop is what a sweeper without a rescan design does:
``Tron(HTTPProvider(url)).get_contract(USDT).functions.balanceOf(address)`` for each address in turn.
Where the naive loop over every address would take too long, it runs over a sample and its per-address
time is extrapolated (the loop is strictly sequential, so its time is linear in the count).
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.common import USDT, DevnetProcess, LoadMeter, quiet_logs, say, scaled
from bench.scan import random_addresses

SIZES = (10_000, 100_000)
HOLDERS_EVERY = 100  # 1 % of the addresses hold USDT, so the rescan has something to find
LOCAL_NAIVE_SAMPLE = 10_000
REMOTE_NAIVE_SAMPLE = 400
RTT_MS = int(os.environ.get("BENCH_RTT_MS", "20"))
REMOTE_CONCURRENCY = 128


def naive_rate(node_url: str, addresses: list[str]) -> tuple[float, int]:
    """Addresses per second of the sequential tronpy loop, and the balances it saw (a sanity check)."""
    from tronpy import Tron
    from tronpy.providers import HTTPProvider

    client = Tron(HTTPProvider(node_url))
    contract = client.get_contract(USDT)
    started = time.perf_counter()
    held = sum(1 for address in addresses if contract.functions.balanceOf(address) > 0)
    return len(addresses) / (time.perf_counter() - started), held


class OneAtATime:
    """The chain adapter seen through ``token_balance`` only: the rescan as it was before the batch reader
    (``workers`` threads sharing the httpx pool, one request per address)."""

    def __init__(self, chain: Any) -> None:
        self._chain = chain

    def token_balance(self, contract: str, address: str) -> int:
        return int(self._chain.token_balance(contract, address))


def sweeper_rate(
    devnet: DevnetProcess, addresses: list[str], concurrency: int, *, threads: bool = False
) -> dict[str, Any]:
    from sweeper.chain import TronChain
    from sweeper.detect import rescan
    from sweeper.models import USDT_MAINNET, Token

    token = Token("USDT", USDT_MAINNET, 6, 1_000_000)
    chain = TronChain(devnet.node_url)
    try:
        load = LoadMeter(devnet.pid)
        started = time.perf_counter()
        source = OneAtATime(chain) if threads else chain
        result = rescan(source, addresses, [token], workers=concurrency)
        elapsed = time.perf_counter() - started
        cores = load.cores(elapsed)
    finally:
        chain.close()
    return {
        "addresses": len(addresses),
        "seconds": round(elapsed, 2),
        "per_s": round(len(addresses) / elapsed),
        "found": len(result.found),
        "failed": len(result.failed),
        "devnet_cpu_cores": cores["devnet"],
        "cpu_cores": cores,
    }


def run() -> dict[str, Any]:
    quiet_logs()
    from config.settings import Settings

    concurrency = int(Settings.model_fields["rescan_concurrency"].default)  # the product default
    sizes = [scaled(n, 500) for n in SIZES]
    addresses = list(random_addresses(max(sizes), seed=2))
    holders = addresses[::HOLDERS_EVERY]
    out: dict[str, Any] = {
        "rtt_ms": RTT_MS,
        "concurrency": concurrency,
        "remote_concurrency": REMOTE_CONCURRENCY,
    }
    with DevnetProcess("--block-time", "3") as dn:
        say(f"[rescan] crediting USDT to {len(holders)} of {len(addresses):,} addresses ...")
        for address in holders:
            dn.admin("mint", {"address": address, "amount": 5_000_000})
        dn.admin("produce", {"blocks": 1})

        runs: list[dict[str, Any]] = []
        for setting, rtt, conc, sample in (
            ("local", 0, concurrency, LOCAL_NAIVE_SAMPLE),
            (f"rtt {RTT_MS} ms", RTT_MS, REMOTE_CONCURRENCY, REMOTE_NAIVE_SAMPLE),
        ):
            if rtt:
                dn.admin("faults", {"target": "node", "latency_ms": rtt})
            sample_size = min(scaled(sample, 100), sizes[0])
            say(f"[rescan] {setting}: naive tronpy loop over {sample_size:,} addresses ...")
            naive, held = naive_rate(dn.node_url, addresses[:sample_size])
            if not rtt:
                say(f"[rescan] {setting}: the rescan before the fix, {sizes[0]:,} addresses")
                before = sweeper_rate(dn, addresses[: sizes[0]], concurrency, threads=True)
                out["before_fix"] = {
                    **before,
                    "naive_per_s": round(naive, 1),
                    "ratio": round(before["per_s"] / naive, 1),
                }
            for size in sizes:
                say(f"[rescan] {setting}: sweeper rescan of {size:,} addresses, {conc} in flight ...")
                measured = sweeper_rate(dn, addresses[:size], conc)
                naive_s = size / naive
                runs.append(
                    {
                        "setting": setting,
                        "rtt_ms": rtt,
                        "concurrency": conc,
                        **measured,
                        "expected_found": len(addresses[:size:HOLDERS_EVERY]),
                        "naive_per_s": round(naive, 1),
                        "naive_seconds": round(naive_s, 1),
                        "naive_measured_on": sample_size,
                        "naive_extrapolated": sample_size < size,
                        "naive_holders_seen": held,
                        "ratio": round(measured["per_s"] / naive, 1),
                    }
                )
            if rtt:
                http_delete_faults(dn)
        out["runs"] = runs
    return out


def http_delete_faults(dn: DevnetProcess) -> None:
    dn.http.delete(dn.node_url + "devnet/faults").raise_for_status()
