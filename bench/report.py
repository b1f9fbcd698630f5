"""The results table: printed, and written with the machine description and PNG charts to bench/RESULTS.md.

``bench/results.json`` keeps the latest result of each benchmark, so running one alone
(``make bench-scan``) refreshes its rows and leaves the others' last figures in place, with their date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bench import report_perf
from bench.common import BENCH_DIR, TRX
from bench.e2e import RSS_SAMPLE_EVERY_S

RESULTS_JSON = BENCH_DIR / "results.json"
RESULTS_MD = BENCH_DIR / "RESULTS.md"
CHARTS = BENCH_DIR / "charts"

OLD_RENTALS = ["itrx", "ea888fee", "tronzap"]
"""The rental sources of results recorded before the benchmark listed them."""


@dataclass(frozen=True)
class Row:
    benchmark: str
    target: str
    measured: str
    met: bool | None  # None: no target, context only


def load() -> dict[str, Any]:
    if RESULTS_JSON.exists():
        data: dict[str, Any] = json.loads(RESULTS_JSON.read_text())
        return data
    return {}


def save(results: dict[str, Any]) -> None:
    RESULTS_JSON.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


def trx(sun: float | None) -> str:
    return "n/a" if sun is None else f"{sun / TRX:.3f} TRX"


def rows(results: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    scan = results.get("scan")
    if scan:
        out.append(
            Row(
                "1. block-scan catch-up",
                "≥ 100 blocks/s",
                f"{scan['blocks_per_s']:,.0f} blocks/s ({scan['txs_per_s']:,} tx/s, "
                f"{scan['blocks']:,} blocks, {scan['watched']:,} watched)",
                scan["blocks_per_s"] >= 100,
            )
        )
        out.append(
            Row(
                "1. watched-set memory",
                "(measured)",
                f"{scan['watchset_mb']} MB for {scan['watched']:,} addresses "
                f"({scan['watchset_bytes_per_address']} B/address)",
                None,
            )
        )
    rescan = results.get("rescan")
    if rescan:
        for run in rescan["runs"]:
            where = "local node" if not run["rtt_ms"] else f"node {run['rtt_ms']} ms away"
            naive = "sampled" if run["naive_extrapolated"] else "measured"
            out.append(
                Row(
                    f"2. rescan {run['addresses']:,}, {where}",
                    "≥ 2,000 addr/s and ≥ 20× naive",
                    f"{run['per_s']:,} addr/s = {run['ratio']}× naive "
                    f"({run['naive_per_s']:,} addr/s, {naive})",
                    run["per_s"] >= 2000 and run["ratio"] >= 20,
                )
            )
    e2e = results.get("e2e")
    if e2e:
        limit = e2e["provider_delay_blocks"] + 3
        target = f"p50 ≤ {limit} blocks (delay {e2e['provider_delay_blocks']} + 3)"
        for run in e2e["runs"]:
            n = run["workers"]
            procs = f"{n} worker process{'es' if n > 1 else ''}"
            out.append(
                Row(
                    f"3. end to end, {procs}",
                    "≥ 600 sweeps/min" if n == 4 else "(context)",
                    f"{run['sweeps_per_min']:,} sweeps/min "
                    f"({run['confirmed']:,}/{run['deposits']:,} confirmed)",
                    run["sweeps_per_min"] >= 600 if n == 4 else None,
                )
            )
            out.append(
                Row(
                    f"3. latency, {procs}, burst of {run['deposits']:,} at {run['deposit_rate_per_s']:g}/s",
                    target,
                    _latency(run),
                    (run["latency_blocks_p50"] or 10**9) <= limit,
                )
            )
        burst = e2e.get("burst")
        if burst:
            out.append(
                Row(
                    f"3. latency, {burst['workers']} worker processes, burst of "
                    f"{burst['deposit_rate_per_s'] * 60:,.0f} deposits/min",
                    target,
                    _latency(burst),
                    (burst["latency_blocks_p50"] or 10**9) <= limit,
                )
            )
        light = e2e.get("light")
        if light:
            out.append(
                Row(
                    f"3. latency, {light['workers']} worker processes, light load "
                    f"({light['deposit_rate_per_s']:g}/s)",
                    target,
                    _latency(light),
                    (light["latency_blocks_p50"] or 10**9) <= limit,
                )
            )
    cost = results.get("cost")
    if cost:
        mean = cost["sweeper"]["mean_sun"]
        floor = cost["floor_sun"]
        out.append(
            Row(
                "4. cost per sweep",
                "within 2 % of the floor",
                f"{trx(mean)} vs floor {trx(floor)} ({(mean / floor - 1) * 100:+.1f} %); "
                f"burn {trx(cost['burn']['mean_sun'])}, flat 40 TRX top-up {trx(cost['flat']['cost_sun'])}",
                mean <= floor * 1.02,
            )
        )
        new_mean = cost["sweeper_new_address"]["mean_sun"]
        new_floor = cost["floor_new_address_sun"]
        out.append(
            Row(
                "4. cost, never-activated address",
                "within 2 % of the floor",
                f"{trx(new_mean)} vs floor {trx(new_floor)} ({(new_mean / new_floor - 1) * 100:+.1f} %)",
                new_mean <= new_floor * 1.02,
            )
        )
        for source, c in sorted((cost.get("charged_vs_quoted") or {}).items()):
            ratio = c.get("charged_over_quoted")
            out.append(
                Row(
                    f"4. charged vs quoted, {source}",
                    "charged within 20 % of the quote",
                    f"charged {trx(c['charged_sun'])} (refunded {trx(c['refunded_sun'])}) for "
                    f"{trx(c['quoted_sun'])} quoted" + (f" (×{ratio:g})" if ratio is not None else ""),
                    ratio is None or abs(ratio - 1) <= 0.2,
                )
            )
    memory = results.get("memory")
    if memory:
        for run in memory["runs"]:
            rest, after = run["rss_at_rest"], run["rss_after"]
            out.append(
                Row(
                    f"5. worker RSS, {run['workers']} process{'es' if run['workers'] > 1 else ''}",
                    f"≤ 150 MB after {run['confirmed']:,} sweeps (the goal: 10,000)",
                    f"{rest['pool_max_mb']} MB at rest → {after['pool_max_mb']} MB after "
                    f"{run['confirmed']:,} sweeps (largest process)",
                    after["pool_max_mb"] <= 150 and after["main_mb"] <= 150,
                )
            )
    return out


def _latency(run: dict[str, Any]) -> str:
    return (
        f"p50 {run['latency_blocks_p50']} blocks / {run['latency_s_p50']} s, "
        f"p95 {run['latency_blocks_p95']} blocks / {run['latency_s_p95']} s"
    )


def table_text(table: list[Row]) -> str:
    """A plain-text table for the terminal."""
    head = ("benchmark", "target", "measured", "met")
    cells = [head] + [(r.benchmark, r.target, r.measured, _met(r.met)) for r in table]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(4)).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _met(met: bool | None) -> str:
    return "—" if met is None else ("yes" if met else "NO")


def charts(results: dict[str, Any]) -> list[tuple[str, str]]:
    """Draw one small PNG per benchmark present; returns (file name, caption) pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    CHARTS.mkdir(exist_ok=True)
    drawn: list[tuple[str, str]] = []

    def save_fig(fig: Any, name: str, caption: str) -> None:
        fig.tight_layout()
        fig.savefig(CHARTS / name, dpi=90)
        plt.close(fig)
        drawn.append((f"charts/{name}", caption))

    if rescan := results.get("rescan"):
        fig, ax = plt.subplots(figsize=(6.4, 3.2))
        runs = rescan["runs"]
        labels = [
            f"{r['addresses'] // 1000}k\n{'local' if not r['rtt_ms'] else str(r['rtt_ms']) + ' ms'}"
            for r in runs
        ]
        x = range(len(runs))
        ax.bar([i - 0.2 for i in x], [r["naive_per_s"] for r in runs], 0.4, label="naive tronpy loop")
        ax.bar([i + 0.2 for i in x], [r["per_s"] for r in runs], 0.4, label="sweeper rescan")
        ax.axhline(2000, color="grey", linestyle="--", linewidth=1, label="target 2,000/s")
        ax.set_yscale("log")
        ax.set_xticks(list(x), labels)
        ax.set_ylabel("addresses / s (log)")
        ax.legend(fontsize=7)
        save_fig(fig, "rescan.png", "Balance rescan against the naive loop (log scale)")

    if e2e := results.get("e2e"):
        runs = e2e["runs"]
        fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 3.0))
        workers = [str(r["workers"]) for r in runs]
        left.bar(workers, [r["sweeps_per_min"] for r in runs], color="tab:blue")
        left.axhline(600, color="grey", linestyle="--", linewidth=1)
        left.axhline(2000, color="grey", linestyle=":", linewidth=1)
        left.set_xlabel("worker processes")
        left.set_ylabel("sweeps / min")
        left.set_title("throughput (600 and 2,000 with 4)", fontsize=9)
        extra = [k for k in ("burst", "light") if e2e.get(k)]
        lat_runs = runs + [e2e[k] for k in extra]
        lat_labels = workers + [f"{e2e[k]['workers']}, {k}" for k in extra]
        x = range(len(lat_runs))
        right.bar([i - 0.2 for i in x], [r["latency_blocks_p50"] or 0 for r in lat_runs], 0.4, label="p50")
        right.bar([i + 0.2 for i in x], [r["latency_blocks_p95"] or 0 for r in lat_runs], 0.4, label="p95")
        limit = e2e["provider_delay_blocks"] + 3
        right.axhline(limit, color="grey", linestyle="--", linewidth=1, label="p50 target")
        right.set_xticks(list(x), lat_labels)
        right.set_xlabel("worker processes")
        right.set_ylabel("blocks, deposit → transfer")
        right.set_title("latency", fontsize=9)
        right.legend(fontsize=7)
        save_fig(fig, "e2e.png", "End to end: throughput and latency by worker processes")

    if cost := results.get("cost"):
        fig, ax = plt.subplots(figsize=(6.4, 3.0))
        names = ["sweeper", "floor", "burn", "flat top-up"]
        values = [
            cost["sweeper"]["mean_sun"],
            cost["floor_sun"],
            cost["burn"]["mean_sun"],
            cost["flat"]["cost_sun"],
        ]
        bars = ax.bar(
            names, [v / TRX for v in values], color=["tab:green", "tab:gray", "tab:orange", "tab:red"]
        )
        flat = cost["flat"]
        ax.bar(["flat top-up"], [flat["burned_mean_sun"] / TRX], color="darkred", label="of it burned")
        ax.bar_label(bars, labels=[f"{v / TRX:.2f}" for v in values], fontsize=8)
        ax.set_ylabel("TRX per sweep")
        ax.legend(fontsize=7)
        save_fig(fig, "cost.png", "TRX per sweep (64,285 energy; the flat top-up's rest stays stranded)")

    if memory := results.get("memory"):
        runs = memory["runs"]
        fig, ax = plt.subplots(figsize=(5.0, 3.0))
        workers = [str(r["workers"]) for r in runs]
        x = range(len(runs))
        ax.bar([i - 0.2 for i in x], [r["rss_at_rest"]["pool_max_mb"] for r in runs], 0.4, label="at rest")
        ax.bar([i + 0.2 for i in x], [r["rss_after"]["pool_max_mb"] for r in runs], 0.4, label="after sweeps")
        ax.axhline(150, color="grey", linestyle="--", linewidth=1, label="target 150 MB")
        ax.set_xticks(list(x), workers)
        ax.set_xlabel("worker processes")
        ax.set_ylabel("RSS of a pool process, MB")
        ax.legend(fontsize=7)
        save_fig(fig, "memory.png", "Worker RSS (largest pool process)")
    report_perf.levers_chart(results, plt, save_fig)
    return drawn


def write_markdown(results: dict[str, Any], table: list[Row]) -> None:
    """RESULTS.md: how it was measured, on what, the table, one section per benchmark, the charts."""
    drawn = dict(charts(results))
    m = results.get("machine", {})
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`; one benchmark alone: `make bench-scan`, `bench-rescan`,",
        "`bench-e2e`, `bench-cost`, `bench-memory`). Every figure is measured in the run that wrote "
        "this file;",
        "ratios compare against baselines measured in the same run. Do not edit by hand.",
        "",
        "## Machine",
        "",
        f"- {m.get('cpu', '?')}, **{m.get('cores', '?')} cores**, {m.get('memory_gb', '?')} GB RAM, "
        f"{m.get('os', '?')}, Python {m.get('python', '?')}.",
        "- The devnet (TRON node and the three providers) runs in a **separate process** from the sweeper",
        "  (no shared GIL), but on the **same 2-core machine** as the sweeper's workers, beat, the callback",
        "  receiver, PostgreSQL and Redis: every figure is a share of the same two cores.",
        "- The devnet's sockets set `TCP_NODELAY`: a keep-alive request takes about 0.5 ms, no 40 ms "
        "delayed-ACK stalls.",
        "- Load average (1 min) when each benchmark started: "
        + "; ".join(
            f"{name} {results[name].get('load_before', '?')} ({results[name].get('measured_at', '?')})"
            for name in ("scan", "rescan", "e2e", "cost")
            if name in results
        )
        + ". Each benchmark reports the CPU other processes on the machine used while it was measured.",
        "",
        "## Results",
        "",
        "| benchmark | target | measured | met |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r.benchmark} | {r.target} | {r.measured} | {_met(r.met)} |" for r in table]
    lines += ["", "### The CPU goals", ""]
    lines += report_perf.goals(results)
    lines += _scan_section(results.get("scan"))
    lines += _rescan_section(results.get("rescan"), drawn)
    lines += _e2e_section(results.get("e2e"), drawn)
    lines += _cost_section(results.get("cost"), drawn)
    lines += _memory_section(results.get("memory"), drawn)
    levers = results.get("levers")
    lines += report_perf.levers_section(levers, _when(levers or {}), _chart(drawn, "levers.png"))
    lines += report_perf.hosts_section(results.get("hosts"), _when(results.get("hosts") or {}))
    lines += [
        "## Reproducing",
        "",
        f"`make bench` (about {_minutes(results)} minutes here) needs PostgreSQL on 127.0.0.1:5432 "
        "(user postgres, trust) and",
        "`redis-server` on the PATH (`make services` provides both); each end-to-end run starts a Redis "
        "of its",
        "own, so queues and address locks of other suites on the shared Redis cannot mix in. Knobs:",
        "`BENCH_SCALE` (multiplies every size; 0.1 for a quick look), `BENCH_RTT_MS` (the emulated "
        "round trip",
        "of benchmark 2, default 20), `BENCH_DEPOSIT_RATE` (deposits per second of the capacity runs, "
        "default 40), `BENCH_BURST_PER_MIN` (deposits a minute of the latency burst, default 1,000),",
        "`BENCH_BLOCK_TIME` (default 3). The processes' logs of the last end-to-end runs are in `bench/out/`",
        "(ignored by git); the raw figures of the last run of each benchmark are in `bench/results.json`.",
        "",
    ]
    RESULTS_MD.write_text("\n".join(lines))


def _minutes(results: dict[str, Any]) -> int:
    names = ("scan", "rescan", "e2e", "cost")
    return round(sum(results.get(n, {}).get("duration_s", 0) for n in names) / 60)


def _when(section: dict[str, Any]) -> str:
    scale = section.get("scale", 1)
    scaled = "" if scale == 1 else f", **BENCH_SCALE={scale}: sizes scaled, not the issue's**"
    longest = max((r.get("confirmed", 0) for r in section.get("runs", [])), default=0)
    if scale != 1 and longest >= 10_000:
        scaled = f", BENCH_SCALE={scale}: {longest:,} sweeps, at least the size of the issue's memory goal"
    return (
        f"_Measured {section.get('measured_at', '?')} at commit {section.get('commit', '?')} "
        f"in {section.get('duration_s', '?')} s{scaled}._"
    )


def _chart(drawn: dict[str, str], name: str) -> list[str]:
    path = f"charts/{name}"
    return [f"![{drawn[path]}]({path})", ""] if path in drawn else []


def _scan_section(scan: dict[str, Any] | None) -> list[str]:
    if not scan:
        return []
    return [
        "## 1. Block-scan catch-up",
        "",
        _when(scan),
        "",
        f"The devnet process mines {scan['blocks']:,} mainnet-like blocks before it serves: "
        f"{scan['transactions']:,} transactions, about 300 per block, of which {scan['usdt_transfers']:,} "
        "are USDT `Transfer` events (a third), the rest TRX transfers. The sweeper's `scan` + `commit` "
        "(what the",
        "`sweeper.scan_blocks` task runs, with its defaults: 200 blocks per scan, up to 4 fetch threads "
        "(as many as the first block's wall time over its CPU shows are worth it: one against this "
        "devnet), the cursor",
        f"in a real ledger) catches up from behind them with **{scan['watched']:,} watched addresses** "
        "in a `WatchSet`.",
        "",
        f"- **{scan['blocks_per_s']:,.0f} blocks/s, {scan['txs_per_s']:,} transactions/s** "
        f"({scan['blocks']:,} blocks in {scan['seconds']} s, {scan['scans']} scans); "
        f"{scan['hits']:,} deposits found of {scan['expected_hits']:,} sent to watched addresses.",
        f"- Watched set: **{scan['watchset_mb']} MB** for {scan['watched']:,} addresses "
        f"({scan['watchset_bytes_per_address']} bytes each: the set table plus one 88-bit key, a 36-byte "
        "int, per address; "
        f"RSS grew {scan['watchset_rss_mb']} MB). Generating and adding the addresses took "
        f"{scan['watchset_load_s']} s.",
        *_cores_line(scan.get("cpu_cores"), "the catch-up"),
        "- Profile (cProfile, 200 blocks, one fetch thread, 2026-12-02): about 3.1 ms of CPU a block, of",
        "  which the HTTP client (httpx, httpcore, h11) about 1 ms, decoding the ~90 KB of JSON with orjson",
        "  0.45 ms and reading the logs 0.5 ms. Recipients are tested by their key (the top 88 bits of the",
        "  body) in the topic's hex (`WatchSet.keys`), so base58 is computed only for watched ones: before",
        "  that, every recipient's",
        "  base58 (two SHA-256 and a long division, 4.3 µs) was the largest cost after JSON; 189 → 322",
        "  blocks/s at BENCH_SCALE=0.25 on a quiet machine. TRON has no call that returns the logs of",
        "  several blocks at once (`gettransactioninfobyblocknum` is per block), so the rest is per-block",
        "  request cost.",
        "- What moved it from 324 to 551 blocks/s (full scale, 2026-12-02; measured by `time.thread_time`",
        "  over 600 blocks): the four fetch threads cost more CPU than they saved against a node that",
        "  answers in about 0.5 ms (1.2-1.5 ms of CPU a block on one thread, 2.0-2.8 ms on four: the GIL",
        "  serialises the decoding), so the scanner now starts as many threads as the first block's wall",
        "  time over its CPU, rounded down (one here; four for a node 30 ms away,",
        "  `test_a_catch_up_overlaps_the_waits_of_a_slow_node_and_keeps_chain_order`); with rounding to",
        "  the nearest a third of the scans chose two threads: 402 blocks/s. And the 88-bit key is parsed",
        "  from 22 hex digits of the topic, no shift and no Python-level container: about 10 % on one",
        "  thread. The watched set went from 81.6 to 69.6 bytes an address with the 88-bit keys.",
        "- The block bodies are rendered once before serving (as a node reads finished blocks from its "
        "store),",
        "  so the catch-up measures the scanner and the wire, not the devnet's first JSON rendering. "
        "Credited",
        "  USDT appears as a `Transfer` from the zero address, which the scanner reads like any transfer.",
        "",
    ]


def _cores_line(cores: dict[str, float] | None, during: str) -> list[str]:
    if not cores:
        return []
    return [
        f"- CPU during {during}: the sweeper {cores['sweeper']} cores, the devnet {cores['devnet']}, "
        f"other processes on the machine {cores['others']} (of {cores_total()})."
    ]


def cores_total() -> int:
    import os

    return os.cpu_count() or 0


def _rescan_section(rescan: dict[str, Any] | None, drawn: dict[str, str]) -> list[str]:
    if not rescan:
        return []
    runs = rescan["runs"]
    local = [r for r in runs if not r["rtt_ms"]]
    remote = [r for r in runs if r["rtt_ms"]]
    before = rescan.get("before_fix")
    lines = [
        "## 2. Balance rescan",
        "",
        _when(rescan),
        "",
        "The sweeper's `rescan` (what `sweeper.rescan_balances` runs) reads `balanceOf` for every address;",
        "the baseline is a plain sequential tronpy loop (`Tron(HTTPProvider(url)).get_contract(USDT)"
        ".functions.balanceOf(a)`), measured in the same run against the same devnet. 1 % of the addresses",
        "hold USDT and every run finds exactly those. Two settings of the node:",
        "",
        f"- **local**: the devnet on this machine (round trip ≈ 0.1 ms), rescan with the product default of "
        f"{rescan['concurrency']} reads in flight;",
        f"- **{rescan['rtt_ms']} ms away**: the devnet's `latency_ms` fault adds {rescan['rtt_ms']} ms "
        "to every "
        "node request, as when the workers reach a node in another data centre; rescan with "
        f"`SWEEPER_RESCAN_CONCURRENCY={rescan['remote_concurrency']}`.",
        "",
    ]
    if local:
        lines += [
            f"The naive loop over {local[0]['naive_measured_on']:,} addresses is measured; for larger "
            "sizes its",
            "per-address time is extrapolated (it is strictly sequential, so its time is linear in the "
            "count).",
            "",
        ]
    lines += _chart(drawn, "rescan.png")
    lines += [
        "| node | addresses | in flight | rescan, addr/s | naive, addr/s | ratio | devnet CPU | other CPU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in (
        [{**before, "rtt_ms": 0, "concurrency": f"{rescan['concurrency']} threads (before)"}]
        if before
        else []
    ) + runs:
        cores = r.get("cpu_cores", {})
        lines.append(
            f"| {'local' if not r['rtt_ms'] else str(r['rtt_ms']) + ' ms'} | {r['addresses']:,} | "
            f"{r['concurrency']} | {r['per_s']:,} | {r['naive_per_s']:,} | {r['ratio']}× | "
            f"{r['devnet_cpu_cores']} cores | {cores.get('others', '?')} cores |"
        )
    lines.append("")
    if before:
        lines += [
            "**Profile, fix, measure again.** Before this benchmark the rescan read one address per "
            "request on "
            f"{rescan['concurrency']} threads sharing the adapter's `httpx` client: "
            f"**{before['per_s']:,} addresses/s ({before['ratio']}× naive)** over {before['addresses']:,} "
            "addresses, measured again in this run. A profile (py-spy) showed the client, not the node, as",
            "the limit: `httpx` spends about 0.6 ms of CPU per request (headers and body leave in two socket",
            "writes; cookie, auth and redirect layers run for every response) and the threads hand the "
            "GIL to",
            "each other on every response, so 32 threads read no faster than one. The fix",
            "(`sweeper/chain/balances.py`, used by `TronChain.token_balances` and `iter_rescan`): keep the",
            "reads in flight on keep-alive HTTP/1.1 connections from one asyncio loop, each request "
            "written in",
            "one send and parsed with `h11` — about 0.2 ms of CPU per balance.",
            "",
        ]
    if local:
        top = max(local, key=lambda r: r["per_s"])
        per_read = max(top["devnet_cpu_cores"], 0.01) / top["per_s"] * 1e6
        ceiling = 1e6 / per_read
        lines += [
            f"**Why the local ratio stays near {top['ratio']}×, not 20×.** With the node on the same machine "
            f"a request costs the naive loop only {1000 / top['naive_per_s']:.1f} ms, so it already runs at "
            f"{top['naive_per_s']:,.0f} addresses/s. The devnet serves every request from one event loop, "
            f"and during the local rescan it spent {per_read:.0f} µs of CPU per balance read "
            f"({top['devnet_cpu_cores']} cores at {top['per_s']:,}/s): one core lets no client read more "
            f"than about {ceiling:,.0f} addresses/s from it, {ceiling / top['naive_per_s']:.1f}× the naive "
            f"loop. 20× would need {20 * top['naive_per_s']:,.0f} requests/s from it on the same two cores.",
            "A java-tron node has no batch balance call; a balance-checker contract (one",
            "`triggerconstantcontract` for many addresses) would lift this, but the devnet implements USDT",
            "only. With a network between workers and node, as in production, the sequential loop waits a",
            f"round trip per address, and the ratio is what the {rescan['rtt_ms']} ms rows show.",
            "",
        ]
    if remote:
        r = max(remote, key=lambda r: r["addresses"])
        lines += [
            f"With the node {rescan['rtt_ms']} ms away the naive loop drops to {r['naive_per_s']} "
            "addresses/s "
            f"({r['naive_seconds'] / 3600:.1f} h for {r['addresses']:,} addresses) while the rescan keeps "
            f"{r['per_s']:,}/s ({r['seconds']} s).",
            "",
        ]
    return lines


def _e2e_section(e2e: dict[str, Any] | None, drawn: dict[str, str]) -> list[str]:
    if not e2e:
        return []
    limit = e2e["provider_delay_blocks"] + 3
    lines = [
        "## 3. End to end",
        "",
        _when(e2e),
        "",
        "The whole product as deployed: a Celery worker (`-c N` prefork processes) on a Redis of its own,",
        "beat (block scanner every "
        f"{e2e.get('scan_interval_s', '?')} s, reconcile), the callback receiver, the ledger on PostgreSQL,",
        f"and the devnet in its own process: {e2e['block_time_s']:g} s blocks, providers delegating "
        f"{e2e['provider_delay_blocks']} block after an order. Deposits land on watched, activated "
        "addresses;",
        "the policy picks the cheapest provider; every sweep runs until its transfer is confirmed "
        f"(`SWEEPER_CONFIRMATIONS={e2e['confirmations']}` for both the scanner and the flow, poll every "
        f"{e2e['poll_seconds']:g} s; with the mainnet-safe default of 19, add 18 blocks to each latency).",
        "",
        "Latency is counted from the block holding the deposit to the block holding the sweep's transfer",
        "(seconds: between the two blocks' timestamps). Sweeps per minute is the steady-state rate (10th to",
        "90th percentile of confirmations); `overall` divides all sweeps by first deposit → last "
        "confirmation.",
        "",
        "| worker processes | deposits, rate | sweeps/min (overall) | latency p50 / p95 | "
        "worker CPU per sweep | stack CPU per sweep | other processes |",
        "|---|---|---|---|---|---|---|",
    ]
    runs = list(e2e["runs"]) + [e2e[k] for k in ("burst", "light") if e2e.get(k)]
    for r in runs:
        cpu = r.get("cpu_ms_per_sweep", {})
        stack = sum(cpu.get(k, 0) for k in ("worker", "beat_web", "devnet", "redis", "postgres"))
        cores = r.get("cpu_cores", {})
        lines.append(
            f"| {r['workers']} | {r['deposits']:,} at {r['deposit_rate_per_s']:g}/s | "
            f"{r['sweeps_per_min']:,} ({r['sweeps_per_min_overall']:,}) | "
            f"{r['latency_blocks_p50']} / {r['latency_blocks_p95']} blocks, "
            f"{r['latency_s_p50']} / {r['latency_s_p95']} s | {cpu.get('worker', '?')} ms | {stack} ms | "
            f"{cores.get('others', '?')} cores |"
        )
    lines.append("")
    lines += _chart(drawn, "e2e.png")
    last = e2e["runs"][-1]
    cpu = last.get("cpu_ms_per_sweep", {})
    stack = sum(cpu.get(k, 0) for k in ("worker", "beat_web", "devnet", "redis", "postgres"))
    ceiling = 2 * 60_000 / stack if stack else 0
    arrival = last["deposit_rate_per_s"] * 60
    bound = "CPU" if ceiling < arrival else "the rate deposits arrive at, not CPU"
    lines += [
        f"**What limits throughput: {bound}.** Averaged over the run with "
        f"{last['workers']} worker processes, a sweep costs {stack} ms of CPU across the stack (worker "
        f"{cpu.get('worker', '?')} ms, devnet {cpu.get('devnet', '?')}, PostgreSQL "
        f"{cpu.get('postgres', '?')}, "
        f"Redis {cpu.get('redis', '?')}); at that cost the two cores sustain about {ceiling:,.0f} sweeps/min "
        "with nothing else running (the steady-state window can beat the average: the last sweeps' polls "
        "are in it). A run cannot stay above the rate its deposits arrive at "
        f"({arrival:,.0f} a minute) for long, and sweeps confirm a block (3 s) at a "
        "time, so the window between the 10th and the 90th percentile of confirmations spans a few blocks "
        "and its rate moves by a few hundred a minute from run to run. Other processes on the machine took "
        f"{last.get('cpu_cores', {}).get('others', '?')} cores during the run. "
        "Where the worker's CPU goes, measured (py-spy profiles of the pool processes), and what each "
        "lever changed: benchmark 6, *CPU per sweep by lever*.",
        "",
    ]
    light, burst = e2e.get("light"), e2e.get("burst")
    if burst:
        lines += [
            f"**Latency under a burst.** {burst['deposits']:,} deposits at "
            f"{burst['deposit_rate_per_s'] * 60:,.0f} a minute with {burst['workers']} workers: p50 "
            f"**{burst['latency_blocks_p50']} blocks ({burst['latency_s_p50']} s)**, p95 "
            f"{burst['latency_blocks_p95']} blocks. The capacity runs above take deposits at "
            f"{e2e['runs'][-1]['deposit_rate_per_s'] * 60:,.0f} a minute, so where a configuration sweeps "
            "slower than that their latency also measures the queue they build.",
            "",
        ]
    if light:
        lines += [
            "**Latency.** Under the capacity runs deposits wait in the queue, so p50 there measures the "
            "backlog. In the "
            f"light run ({light['deposits']} deposits at {light['deposit_rate_per_s']:g}/s, "
            f"{light['workers']} workers) p50 is **{light['latency_blocks_p50']} blocks "
            f"({light['latency_s_p50']} s)**, p95 {light['latency_blocks_p95']} blocks: the deposit is seen "
            "one block later (one confirmation), the order is placed at once, the provider delegates "
            "one block",
            "after it, and the transfer is mined in the next block. The target is p50 ≤ "
            f"{limit} blocks (delay {e2e['provider_delay_blocks']} + 3).",
            "",
        ]
    return lines


def _cost_section(cost: dict[str, Any] | None, drawn: dict[str, str]) -> list[str]:
    if not cost:
        return []
    s, flat = cost["sweeper"], cost["flat"]
    quotes = ", ".join(f"{k} {trx(v)}" for k, v in sorted(cost["floor_quotes"].items(), key=lambda kv: kv[1]))
    new_quotes = ", ".join(
        f"{k} {trx(v)}" for k, v in sorted(cost["floor_new_address_quotes"].items(), key=lambda kv: kv[1])
    )
    return [
        "## 4. Cost per sweep",
        "",
        _when(cost),
        "",
        "All measured on the devnet chain (energy price "
        f"{cost['energy_price_sun']} sun, the mainnet value), for a USDT transfer to a hot wallet that "
        "holds USDT "
        "(64,285 energy):",
        "",
        "| | TRX per sweep | n |",
        "|---|---|---|",
        f"| sweeper (policy picks among {', '.join(cost.get('rental_sources', OLD_RENTALS))}) "
        f"| **{trx(s['mean_sun'])}** "
        f"(min {trx(s['min_sun'])}, max {trx(s['max_sun'])}) | {s['n']} |",
        f"| floor: the cheapest quote just before each sweep, mean over the sweeps ({quotes}) "
        f"| {trx(cost['floor_sun'])} | |",
        f"| (a) burning TRX for the energy (the product's `burn` source) | {trx(cost['burn']['mean_sun'])} | "
        f"{cost['burn']['n']} |",
        f"| (b) flat top-up: 40 TRX sent to each address | {trx(flat['cost_sun'])} left the gas wallet: "
        f"{trx(flat['burned_mean_sun'])} burned, {trx(flat['stranded_mean_sun'])} stranded | {flat['n']} |",
        "| sweeper, never-activated address (activation + energy) | "
        f"{trx(cost['sweeper_new_address']['mean_sun'])} "
        f"| {cost['sweeper_new_address']['n']} |",
        f"| floor for it ({new_quotes}) | {trx(cost['floor_new_address_sun'])} | |",
        *_second_same_day(cost),
        "",
        f"The sweeper pays {s['mean_sun'] / cost['floor_sun'] * 100 - 100:+.1f} % against the floor, "
        f"{cost['burn']['mean_sun'] / s['mean_sun']:.1f}× less than burning and "
        f"{flat['cost_sun'] / s['mean_sun']:.1f}× less than a flat top-up. The sweeps the ledger records as "
        "costs are what left the exchange's wallets: what the providers charged, what the gas wallet sent "
        "and burned, and any TRX the transfer burned (none for a first sweep: the rented energy covers it "
        "and the address's free bandwidth pays the ~345 bytes; a second sweep the same day pays its bytes).",
        "",
        *_chart(drawn, "cost.png"),
    ]


def _second_same_day(cost: dict[str, Any]) -> list[str]:
    second = cost.get("second_same_day")
    if not second or not second.get("n"):
        return []
    return [
        "| sweeper, second deposit the same day (energy rented, the bytes' TRX from the gas wallet) | "
        f"{trx(second['mean_sun'])}, of it {trx(second['bandwidth_mean_sun'] or 0)} bandwidth "
        f"| {second['n']} |"
    ]


def _to_addresses(run: dict[str, Any]) -> str:
    """ ", to N addresses" where a run's deposits went to fewer addresses than there were deposits."""
    n = run.get("addresses")
    return f", to {n:,} addresses" if n and n < run.get("deposits", 0) else ""


def _reuse_sentence(runs: list[dict[str, Any]]) -> list[str]:
    """Where a run's deposits went to fewer addresses than deposits: how many, and how many each."""
    for r in runs:
        n, deposits = r.get("addresses"), r.get("deposits", 0)
        if n and n < deposits:
            return [f"The deposits below went to {n:,} addresses in turn, {deposits / n:g} to each."]
    return []


def _rss_points(run: dict[str, Any], count: int = 6) -> list[str]:
    """About ``count`` of a run's RSS samples, evenly spread, and the end of the run."""
    samples = run.get("rss_samples") or []
    if not samples:
        return []
    step = max(1, len(samples) // count)
    picked = samples[step - 1 :: step]
    points = [f"{s['deposits']:,} → {s['main_mb']} / {s['pool_max_mb']} MB" for s in picked]
    end = run["rss_after"]
    return [*points, f"all {run['confirmed']:,} swept → {end['main_mb']} / {end['pool_max_mb']} MB"]


def _memory_section(memory: dict[str, Any] | None, drawn: dict[str, str]) -> list[str]:
    if not memory:
        return []
    lines = [
        "## 5. Worker memory",
        "",
        _when(memory),
        "",
        "RSS of the Celery worker's processes, read from `/proc`, once the worker has started and run its",
        "first scans (at rest), and again after every deposit of the run is swept. With one process, that",
        "process did every sweep. The deposits arrive near the rate one process sweeps (on 2026-12-07 it",
        "swept about 13 a second, so a queue built up and 660 of 12,000 deposits joined a sweep still open",
        "on their address); the worker's main process holds every countdown message it has fetched until it",
        "is due (Celery's ETA handling), so under a backlog its RSS follows the queue. Until 2026-12-07",
        "the main process, which runs no sweep, gained about 22 MB in its first few thousand sweeps and",
        "levelled off (130.2 → 152.4 MB after 10,000 at 05b52dd): finished",
        "task requests (Celery's `Request`, its message and decoded body) died in reference cycles and",
        "waited for a full collection, which Python runs only once the objects promoted since the last one",
        "exceed a quarter of the ~180,000 the imports left; 2,038 of them were alive at once at 15",
        "sweeps/s, and the arenas they filled stayed fragmented. The main process now freezes what start-up",
        "left before the pool forks and collects once a second, about 1 ms each (tasks/memory.py); it also",
        "drops the soft time limits finished tasks cancelled, which kombu keeps for the whole 90 s of the",
        "limit. Same rate, 900 sweeps: 131.5 → 150.3 MB before, 131.4 → 134.5 MB after.",
        *_reuse_sentence(memory["runs"]),
        "The caches a pool process keeps per address, bounded, are warm after the first fifth of a run",
        "whose deposits go to addresses in turn (`BENCH_MEMORY_ADDRESSES`):",
        "over 10,000 distinct addresses (2026-12-07, this tree) the pool process still gained about 1 MB per",
        "1,000 sweeps at the end (128.3 MB after 450 deposits, 137.6 after 9,900), and tracemalloc put the",
        "largest share in the two address caches (`sweeper/chain/addresses.py`, about 450 B per new address,",
        "16,384 addresses each at most).",
        "",
    ]
    for r in memory["runs"]:
        points = _rss_points(r)
        if points:
            lines += [
                f"Sampled every {RSS_SAMPLE_EVERY_S:g} s while the deposits arrived ({r['workers']} process"
                f"{'es' if r['workers'] > 1 else ''}; deposits sent → main process / largest pool process): "
                + "; ".join(points)
                + ".",
                "",
            ]
    lines += [
        "| worker processes | sweeps, rate | pool process at rest → after (largest) | main process | all "
        "processes | energy orders (per sweep) |",
        "|---|---|---|---|---|---|",
    ]
    for r in memory["runs"]:
        a, b = r["rss_at_rest"], r["rss_after"]
        orders = r.get("orders", {}).get("total")
        paid = f"{orders:,} ({orders / max(r['confirmed'], 1):.3f})" if orders else "not counted"
        lines.append(
            f"| {r['workers']} | {r['confirmed']:,} at {r['deposit_rate_per_s']:g}/s{_to_addresses(r)} | "
            f"{a['pool_max_mb']} → **{b['pool_max_mb']} MB** | "
            f"{a['main_mb']} → {b['main_mb']} MB | {a['total_mb']} → {b['total_mb']} MB | {paid} |"
        )
    lines.append("")
    lines += _chart(drawn, "memory.png")
    return lines
