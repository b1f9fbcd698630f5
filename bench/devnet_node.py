"""The devnet in a process of its own, optionally pre-loaded with mainnet-like blocks, for the benchmarks.

The sweeper under test and the devnet must not share one GIL, so every benchmark talks to the devnet
over HTTP in this separate process. Mainnet-like blocks (about 300 transactions, about a third of them
USDT ``Transfer`` events) are built through the devnet's public ``Chain`` API before the servers start:
TRX transfers between a pool of funded accounts, and USDT credited to recipients (a ``Transfer`` log
from the zero address, which the scanner reads exactly like a user's transfer). The block bodies are
rendered once up front, as a real node serves them from its database, so the catch-up measures the
scanner and the wire, not the devnet's first JSON rendering.

Run: ``python -m bench.devnet_node --ready-file F [--scan-blocks N] [--block-time S] ...``; it writes
one JSON object to F (ports, the generated range, watched recipients) and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

from devnet import render
from devnet.server import Devnet

TRX = 1_000_000
SENDER_POOL = 2_000


def build_blocks(
    devnet: Devnet, blocks: int, txs_per_block: int, usdt_share: float, watched_per_block: int, seed: int
) -> dict[str, Any]:
    """Mine ``blocks`` mainnet-like blocks; returns the range and the recipients meant to be watched."""
    rng = random.Random(seed)
    chain = devnet.chain
    senders = ["41" + rng.randbytes(20).hex() for _ in range(SENDER_POOL)]
    for sender in senders:
        chain.fund(sender, 1_000 * TRX)
    first = chain.produce_blocks(1) + 1
    usdt_per_block = round(txs_per_block * usdt_share)
    trx_per_block = txs_per_block - usdt_per_block
    watched: list[str] = []
    started = time.perf_counter()
    for _ in range(blocks):
        for i in range(trx_per_block):
            sender = rng.randrange(SENDER_POOL)
            chain.transfer_trx(senders[sender], senders[(sender + 1 + i) % SENDER_POOL], 1_000 + i)
        for i in range(usdt_per_block):
            recipient = "41" + rng.randbytes(20).hex()
            if i < watched_per_block:
                watched.append(render.b58(recipient))
            chain.mint(recipient, rng.randrange(1, 5_000) * 1_000_000)
        chain.produce_blocks(1)
    last = chain.head_number()
    built = time.perf_counter() - started
    for number in range(first, last + 1):  # render once, as a node reads finished blocks from its store
        block = chain.block(number)
        assert block is not None
        block.infos_bytes(True)
    txs = sum(len(b.txs) for b in chain.blocks[first : last + 1])
    return {
        "first": first,
        "last": last,
        "transactions": txs,
        "usdt_transfers": usdt_per_block * blocks,
        "watched_recipients": watched,
        "build_seconds": round(built, 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.devnet_node")
    p.add_argument("--ready-file", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--block-time", type=float, default=3.0)
    p.add_argument("--solid-depth", type=int, default=2)
    p.add_argument("--provider-delay-blocks", type=int, default=1)
    p.add_argument("--callback-time-scale", type=float, default=0.05)
    p.add_argument("--scan-blocks", type=int, default=0)
    p.add_argument("--txs-per-block", type=int, default=300)
    p.add_argument("--usdt-share", type=float, default=1 / 3)
    p.add_argument("--watched-per-block", type=int, default=2)
    p.add_argument("--seed", type=int, default=6)
    args = p.parse_args(argv)

    devnet = Devnet(
        port=args.port,
        block_time=args.block_time,
        solid_depth=args.solid_depth,
        provider_delay_blocks=args.provider_delay_blocks,
        callback_time_scale=args.callback_time_scale,
    )
    info: dict[str, Any] = {"pid": os.getpid()}
    if args.scan_blocks:
        info["scan"] = build_blocks(
            devnet, args.scan_blocks, args.txs_per_block, args.usdt_share, args.watched_per_block, args.seed
        )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    devnet.start()
    try:
        info["node_url"] = devnet.node_url
        info["providers"] = {name: devnet.provider_url(name) for name in devnet.ports() if name != "node"}
        ready = Path(args.ready_file)
        tmp = ready.with_suffix(".tmp")
        tmp.write_text(json.dumps(info))
        tmp.rename(ready)
        while not stop.wait(0.5):
            pass
    finally:
        devnet.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
