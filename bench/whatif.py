"""Measure a suggested change before anyone makes it: the bridge as is beside variants, same backlog, same run.

    python -m bench.whatif [--runs 3] [--events 60000] [--variants gc,no-premise] [--latency-rates 100,250,500]

Variants are settings or start-up changes applied from outside the service code:
  gc          BENCH_WHATIF=gc: freeze the start-up heap, young-generation threshold 50,000 (see bridge_proc.py)
  no-premise  DISPATCH_BRIDGE_STORE__PREMISE_ENABLED=false: no premise history at all (what it costs)
  gc+no-premise  both
  no-store-write BENCH_WHATIF=no-store-write: outcome rows built, the SQLite write skipped (what it costs)
  no-store-rows BENCH_WHATIF=no-store-rows: no outcome rows built or written at all (what the store costs)
  no-fold     BENCH_WHATIF=no-fold: each revision's outcome rows upserted as they are (what the fold saves)
  py-scan     BENCH_WHATIF=py-scan: the decoder's safety scan in pure Python (what contracts/_scan.c saves)
  py-text     BENCH_WHATIF=py-text: triage's normalise in pure Python (what triage/_text.c saves); pure: both
Throughput runs alternate baseline and variants; latency is measured at each rate for each. Prints a table.

    python -m bench.whatif --events 0 --variants "" --latency-rates 500 --burn-us 300,600,1000

``--burn-us`` adds passthroughs that spin that much CPU per record: the latency a given CPU cost per event
costs on this machine, to read the bridge's own figure against.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench import phases
from bench.traffic import build_traffic
from dispatch_bridge.testing.broker import EmbeddedBroker

VARIANTS: dict[str, dict[str, str]] = {
    "baseline": {},
    "gc": {"BENCH_WHATIF": "gc"},
    "no-premise": {"DISPATCH_BRIDGE_STORE__PREMISE_ENABLED": "false"},
    "gc+no-premise": {"BENCH_WHATIF": "gc", "DISPATCH_BRIDGE_STORE__PREMISE_ENABLED": "false"},
    # The outcome rows built but not written (SQLite): what the store's write costs the drain. Rows are lost.
    "no-store-write": {"BENCH_WHATIF": "no-store-write"},
    # No outcome rows built nor written: the store's whole cost to the drain (its rows, its write). Rows are lost.
    "no-store-rows": {"BENCH_WHATIF": "no-store-rows"},
    # Every revision's outcome rows written as they are, as before the fold per key (outcomes.fold).
    "no-fold": {"BENCH_WHATIF": "no-fold"},
    # The decoder's safety scan in pure Python, as where the package was installed without a C compiler.
    "py-scan": {"BENCH_WHATIF": "py-scan"},
    # Triage's normalise in pure Python: what triage/_text.c saves (py-scan,py-text: both compiled parts).
    "py-text": {"BENCH_WHATIF": "py-text"},
    "pure": {"BENCH_WHATIF": "py-scan,py-text"},
    # INFO logging: one line per flagged event (the benchmark's INFO row), and one per event (the default).
    "info": {"DISPATCH_BRIDGE_LOG_LEVEL": "INFO", "DISPATCH_BRIDGE_PROCESSING__LOG_EVERY_EVENT": "false"},
    "info-every-event": {"DISPATCH_BRIDGE_LOG_LEVEL": "INFO"},
    # Every revision ranked and published on its own, as before coalescing within a batch.
    "no-coalesce": {"DISPATCH_BRIDGE_PROCESSING__COALESCE_REVISIONS": "false"},
    # The outcome store on PostgreSQL (BENCH_PG_URL, e.g. postgresql://postgres@127.0.0.1:5432/bench) instead of
    # the default SQLite file: the production setup, with the database's own CPU outside the bridge process.
    "postgres": {"DISPATCH_BRIDGE_STORE__URL": os.environ.get("BENCH_PG_URL", "")},
}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    names = ["baseline", *[v for v in args.variants.split(",") if v]]
    workdir = Path(tempfile.mkdtemp(prefix="dispatch-whatif-"))
    out: dict[str, Any] = {"throughput": {n: [] for n in names}, "latency": {}}
    with EmbeddedBroker(log_path=workdir / "tansu.log") as broker:
        bench = phases.Bench(broker.bootstrap_servers, workdir, build_traffic())
        if args.events:
            backlog = await phases.preload_backlog(bench, args.events, 0.5)
            for n in range(args.runs):
                for name in names if n % 2 == 0 else list(reversed(names)):
                    row = await phases.throughput_bridge(bench, backlog, "WARNING", extra_env=VARIANTS[name])
                    out["throughput"][name].append(row)
                    print(f"throughput {name}: {row['events_per_s']:,.0f} events/s, "
                          f"{row['cpu_us_per_event']:.1f} CPU us/event", flush=True)
        rates = [float(r) for r in args.latency_rates.split(",") if r]
        if rates:
            roster = await phases.preload_roster(bench)
            # (name, contender, keyword arguments): the passthrough, the same burning CPU, then the bridges.
            contenders = [("passthrough", "passthrough", {})]
            contenders += [(f"passthrough+{b}us", "passthrough", {"burn_us": float(b)})
                           for b in args.burn_us.split(",") if b]
            contenders += [(name, "bridge", {"extra_env": VARIANTS[name]}) for name in names]
            for rate in rates:
                for name, who, kwargs in contenders:
                    row = await phases.latency(bench, who, roster, rate, args.latency_seconds, 2, **kwargs)
                    out["latency"][(name, rate)] = row
                    print(f"latency {name} @ {rate:.0f}/s: p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
                          f"max {row['max_ms']:.1f} ms", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=60_000, help="backlog size; 0 skips throughput")
    parser.add_argument("--variants", default="gc,no-premise,gc+no-premise")
    parser.add_argument("--latency-rates", default="100,250,500", help="paced rates; empty skips latency")
    parser.add_argument("--latency-seconds", type=float, default=8.0)
    parser.add_argument("--burn-us", default="", help="passthroughs spinning this much CPU per record (comma list)")
    args = parser.parse_args()
    out = asyncio.run(run(args))
    if out["throughput"]["baseline"]:
        base = statistics.median(r["events_per_s"] for r in out["throughput"]["baseline"])
        print("\nvariant          events/s (median)  vs baseline  CPU us/event (median)")
        for name, rows in out["throughput"].items():
            rate = statistics.median(r["events_per_s"] for r in rows)
            cpu = statistics.median(r["cpu_us_per_event"] for r in rows)
            print(f"{name:<16} {rate:>17,.0f}  {rate / base:>10.2f}x  {cpu:>21.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
