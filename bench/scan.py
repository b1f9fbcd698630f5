"""Benchmark 1: block-scan catch-up over mainnet-like blocks with 1,000,000 watched addresses.

The devnet (its own process) mines the blocks before it starts serving; the sweeper's ``scan`` and
``commit`` (what the ``sweeper.scan_blocks`` task runs) then catch up from a cursor behind them, with
the product defaults (200 blocks per scan, 4 fetch threads) and the cursor in a real ledger.
"""

from __future__ import annotations

import gc
import hashlib
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import USDT, DevnetProcess, LoadMeter, quiet_logs, rss_mb, say, scaled

WATCHED = 1_000_000
BLOCKS = 2_000
TXS_PER_BLOCK = 300
MAX_BLOCKS_PER_SCAN = 200  # Settings.scan_max_blocks default
SCAN_WORKERS = 4  # sweeper.detect.scanner.scan default
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def random_addresses(count: int, seed: int = 1) -> Iterator[str]:
    """Valid base58check TRON addresses from random 20-byte bodies (deposit addresses look like this)."""
    rng = random.Random(seed)
    sha = hashlib.sha256
    for _ in range(count):
        payload = b"\x41" + rng.randbytes(20)
        number = int.from_bytes(payload + sha(sha(payload).digest()).digest()[:4], "big")
        chars = []
        while number:
            number, digit = divmod(number, 58)
            chars.append(_ALPHABET[digit])
        yield "".join(reversed(chars))


def set_bytes(watched: Any) -> int:
    """Deep size of the WatchSet's storage: the set table plus every stored int."""
    keys = watched._keys  # the benchmark looks inside on purpose: this is what it measures
    return sys.getsizeof(keys) + sum(sys.getsizeof(k) for k in keys)


def decode_ms_per_block(dn: DevnetProcess, first: int, count: int = 20, rounds: int = 5) -> dict[str, float]:
    """CPU ms to decode one block's transaction infos: the standard library against the codec."""
    import json

    from sweeper.chain import codec

    bodies = [
        dn.http.post(
            dn.node_url + "wallet/gettransactioninfobyblocknum", json={"num": n, "visible": True}
        ).content
        for n in range(first, first + count)
    ]
    out: dict[str, float] = {"kb_per_block": round(sum(map(len, bodies)) / len(bodies) / 1024, 1)}
    for name, loads in (("json", json.loads), ("codec", codec.loads)):
        best = float("inf")  # the quickest round: a pause of the machine is not the decoder's cost
        for _ in range(rounds):
            started = time.process_time()
            for body in bodies:
                loads(body)
            best = min(best, time.process_time() - started)
        out[name] = round(best * 1000 / len(bodies), 3)
    return out


def run() -> dict[str, Any]:
    quiet_logs()
    from sweeper.chain import TronChain
    from sweeper.detect.scanner import commit, scan
    from sweeper.detect.watchset import WatchSet
    from sweeper.ledger.engine import create_engine_for
    from sweeper.ledger.migrate import upgrade
    from sweeper.ledger.repository import Ledger

    blocks = scaled(BLOCKS, 50)
    watched_count = scaled(WATCHED, 1_000)
    say(f"[scan] building {blocks} mainnet-like blocks of ~{TXS_PER_BLOCK} transactions on the devnet ...")
    build = ("--scan-blocks", str(blocks), "--txs-per-block", str(TXS_PER_BLOCK))
    with DevnetProcess(*build, timeout=1800) as dn:  # building the blocks takes minutes on a busy machine
        info = dn.info["scan"]
        recipients = info["watched_recipients"]
        say(f"[scan] watching {watched_count:,} addresses ...")
        gc.collect()
        rss_before = rss_mb_self()
        started = time.perf_counter()
        watched = WatchSet(random_addresses(watched_count - len(recipients)))
        watched.update(recipients)
        load_s = time.perf_counter() - started
        gc.collect()
        rss_delta = rss_mb_self() - rss_before
        size = set_bytes(watched)

        with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'ledger.sqlite3'}"
            upgrade(url)
            ledger = Ledger(create_engine_for(url))
            ledger.set_cursor("blocks", info["first"] - 1)
            chain = TronChain(dn.node_url)
            hits = transfers = scans = 0
            say(f"[scan] catching up blocks {info['first']}..{info['last']} ...")
            load = LoadMeter(dn.pid)
            started = time.perf_counter()
            while True:
                result = scan(
                    chain,
                    ledger,
                    watched,
                    [USDT],
                    confirmations=0,
                    max_blocks=MAX_BLOCKS_PER_SCAN,
                    workers=SCAN_WORKERS,
                )
                commit(ledger, result)
                scans += 1
                hits += len(result.hits)
                transfers += result.transfers
                if result.to_block >= info["last"]:
                    break
            elapsed = time.perf_counter() - started
            cores = load.cores(elapsed)
            scanned = result.to_block - info["first"] + 1
            chain.close()
            ledger.engine.dispose()
        decode = decode_ms_per_block(dn, info["first"])

    txs = info["transactions"]  # blocks mined by the timer after the generated range are empty
    return {
        "blocks": scanned,
        "transactions": txs,
        "usdt_transfers": info["usdt_transfers"],
        "watched_transfers": transfers,
        "watched": len(watched),
        "hits": hits,
        "expected_hits": len(recipients),
        "scans": scans,
        "seconds": round(elapsed, 3),
        "blocks_per_s": round(scanned / elapsed, 1),
        "txs_per_s": round(txs / elapsed),
        "watchset_mb": round(size / 2**20, 1),
        "watchset_bytes_per_address": round(size / len(watched), 1),
        "watchset_rss_mb": round(rss_delta, 1),
        "watchset_load_s": round(load_s, 2),
        "devnet_build_s": info["build_seconds"],
        "cpu_cores": cores,
        "decode_ms_per_block": decode,
    }


def rss_mb_self() -> float:
    import os

    return rss_mb(os.getpid())
