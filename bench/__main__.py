"""``python -m bench``: the dispatch-bridge benchmark suite, every figure from one run against its own broker.

Starts an embedded Tansu broker on loopback, builds realistic traffic from the demo shift (1 KB narratives,
a 1,000-unit roster, AVL), then measures, in this order and in the same run:
  throughput  the bridge draining a backlog vs a bare aiokafka passthrough (WARNING logging, then INFO);
  latency     produced -> recommendation at a paced rate, beside the passthrough forwarding the same events
              (and beside two bridge instances in one consumer group: --scale-out);
  rules       bench/rules_scaling.py (50 / 500 / 5,000 phrases);
  ranking     bench/ranking_scaling.py (100 / 1,000 / 10,000 units, AVL at 2,000/s);
  memory      RSS over a long replay (``--long``: 1,000,000 events);
  profile     py-spy on the bridge draining the backlog, summarised by category and function.
Writes ``results.md`` and ``results.json`` to ``--out-dir`` (default: bench/). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench import breakdown, phases, profiling, report, scaling, whatif
from bench.traffic import build_traffic
from dispatch_bridge.testing.broker import EmbeddedBroker

PHASES = ("throughput", "latency", "rules", "ranking", "memory", "profile", "breakdown")
# Bridge variants measured beside the bridge as is with --whatif (see bench/whatif.py for what each changes).
WHATIF = {"bridge what-if: gc tuned": whatif.VARIANTS["gc"],
          "bridge what-if: premise history off": whatif.VARIANTS["no-premise"],
          "bridge what-if: gc tuned + premise history off": whatif.VARIANTS["gc+no-premise"]}
BENCH = Path(__file__).resolve().parent
FLAGGED_ONLY = {"DISPATCH_BRIDGE_PROCESSING__LOG_EVERY_EVENT": "false"}
MIXED = "(mixed traffic)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--runs", type=int, default=3, help="repetitions of throughput, latency and scaling (default 3)")
    p.add_argument("--events", type=int, default=60_000, help="backlog size for throughput (default 60,000)")
    p.add_argument("--unit-share", type=float, default=0.5, help="share of unit/AVL records in the traffic")
    p.add_argument("--rate", type=float, default=500.0, help="paced crisis events per second for latency")
    p.add_argument("--latency-seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of paced warm-up before latency counts")
    p.add_argument("--mix-seconds", type=float, default=20.0,
                   help="latency in the backlog's mix of traffic at --rate, timing the new crisis calls in it "
                        "(about 2%% of the records; 0 skips)")
    p.add_argument("--scale-out", type=int, default=2,
                   help="also measure latency with this many bridge instances in one consumer group (1: skip)")
    p.add_argument("--memory-events", type=int, default=200_000, help="events in the memory replay")
    p.add_argument("--long", action="store_true", help="memory replay of 1,000,000 events")
    p.add_argument("--ranking-seconds", type=float, default=3.0, help="seconds per ranking size and gap")
    p.add_argument("--calls", type=int, default=600, help="calls in the demo shift the traffic is built from")
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--session-timeout-ms", type=int, default=6000,
                   help="Tansu's first join of a group takes about half of it")
    p.add_argument("--no-info", action="store_true", help="skip the INFO-logging throughput figure")
    p.add_argument("--whatif", action="store_true",
                   help="also measure bridge variants (GC tuned, premise history off) in throughput and latency")
    p.add_argument("--skip", default="", help=f"comma-separated phases to skip: {', '.join(PHASES)}")
    p.add_argument("--out-dir", type=Path, default=BENCH)
    p.add_argument("--workdir", type=Path, default=None, help="logs, stores, profiles (default: a temp dir)")
    args = p.parse_args(argv)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = args.skip - set(PHASES)
    if unknown:
        p.error(f"unknown phases to skip: {', '.join(sorted(unknown))}")
    if args.scale_out > args.partitions:
        p.error(f"--scale-out {args.scale_out}: more members than the {args.partitions} partitions would sit idle")
    if args.long:
        args.memory_events = 1_000_000
    return args


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


async def run_bench(args: argparse.Namespace, command: str) -> dict[str, Any]:
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dispatch-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"command": command, "runs": args.runs, "machine": report.machine(), "notes": []}
    say(f"building traffic (demo shift of {args.calls} calls, 1 KB narratives, 1,000 units); workdir {workdir}")
    traffic = build_traffic(calls=args.calls)
    results["traffic"] = traffic.describe() | {"unit_share": args.unit_share}
    knobs = phases.KafkaKnobs(partitions=args.partitions, session_timeout_ms=args.session_timeout_ms)
    results["knobs"] = (f"{knobs.partitions} partitions per topic, fetch_max_wait_ms={knobs.fetch_max_wait_ms}, "
                        f"max {knobs.max_records} records per batch, linger_ms={knobs.linger_ms}, "
                        f"session_timeout_ms={knobs.session_timeout_ms}, acks=all, no idempotence")
    with EmbeddedBroker(log_path=workdir / "tansu.log") as broker:
        say(f"broker up at {broker.bootstrap_servers}")
        bench = phases.Bench(broker.bootstrap_servers, workdir, traffic, knobs)
        backlog = None
        if {"throughput", "profile"} - args.skip:
            backlog = await phases.preload_backlog(bench, args.events, args.unit_share)
            say(f"backlog preloaded: {backlog.counts} in {backlog.produce_seconds:.1f} s")
        if "throughput" not in args.skip:
            assert backlog is not None
            results["throughput"] = await throughput(bench, backlog, args)
            results["notes"] += results["throughput"]["notes"]
        if "latency" not in args.skip:
            results["latency"] = await latency(bench, args)
            results["notes"] += results["latency"]["notes"]
        if "memory" not in args.skip:
            say(f"memory: replaying {args.memory_events:,} events through the bridge")
            mem = await phases.memory(bench, args.memory_events, args.unit_share)
            first, second = mem["rss_first_half_max_mb"], mem["rss_second_half_max_mb"]
            mem["growth_mb"] = second - first if first is not None and second is not None else None
            results["memory"] = mem
            say(f"memory: peak {mem['peak_rss_mb']:.0f} MB, first half max {first} MB, second half max {second} MB")
        if "profile" not in args.skip:
            assert backlog is not None
            if profiling.pyspy_binary() is None:
                results["notes"].append("Profile skipped: py-spy is not installed (`pip install py-spy`).")
            else:
                say("profile: py-spy on the bridge draining the backlog")
                prof = await profiling.profile_drain(bench, backlog, workdir / "bridge.pyspy.txt")
                drained = prof.pop("drain")
                prof["events_per_s"] = sum(drained["done"].values()) / drained["seconds"]
                results["profile"] = prof
    if "breakdown" not in args.skip:
        say("breakdown: the pipeline's stages in process, no broker")
        results["breakdown"] = await breakdown.run(min(args.events, 20_000), 1000, workdir=workdir)
    if "rules" not in args.skip:
        results["rules"] = rules(args)
    if "ranking" not in args.skip:
        results["ranking"] = ranking(args)
    results["targets"] = targets(results)
    results["finished"] = report.now_text()
    results["workdir"] = str(workdir)
    return results


async def throughput(bench: phases.Bench, backlog: phases.Backlog, args: argparse.Namespace) -> dict[str, Any]:
    variants = WHATIF if args.whatif else {}
    runs: dict[str, list[dict[str, Any]]] = {"passthrough": [], "bridge (WARNING)": [], "bridge (INFO)": []}
    runs |= {name: [] for name in variants}
    # Scale-out: several bridge processes in one consumer group on this one machine (README, Performance).
    scaled = f"bridge x{args.scale_out} (one group)" if args.scale_out > 1 else None
    if scaled:
        runs[scaled] = []
    notes: list[str] = []
    for n in range(args.runs):
        # Alternate who goes first, so a drift in the broker or the machine does not always favour one side.
        order = ["passthrough", "bridge (WARNING)"] if n % 2 == 0 else ["bridge (WARNING)", "passthrough"]
        if not args.no_info:
            order.append("bridge (INFO)")
        order += list(variants) + ([scaled] if scaled else [])
        for name in order:
            if name == "passthrough":
                row = await phases.throughput_passthrough(bench, backlog)
            elif name == scaled:
                try:
                    row = await phases.throughput_group(bench, backlog, args.scale_out)
                except RuntimeError as exc:
                    # Several members joining one group is where Tansu's rebalances misbehave: report, go on.
                    note = f"throughput run {n + 1}/{args.runs}: {name} failed ({exc}); left out of the results"
                    say(note)
                    notes.append(note)
                    del runs[scaled]
                    scaled = None
                    continue
            else:
                # INFO: the target's "one log line per flagged event" (the service's default, one line per
                # processed event, is the LOG_EVERY_EVENT setting's other value).
                env = FLAGGED_ONLY if "INFO" in name else variants.get(name)
                row = await phases.throughput_bridge(bench, backlog, "INFO" if "INFO" in name else "WARNING",
                                                     extra_env=env)
            runs[name].append(row)
            say(f"throughput run {n + 1}/{args.runs}: {name} {row['events_per_s']:,.0f} events/s "
                f"({row['cpu_us_per_event']:.1f} CPU us/event)")
    contenders = {}
    for name, rows in runs.items():
        if not rows:
            continue
        contenders[name] = {key: report.spread([r[key] for r in rows])
                            for key in ("events_per_s", "cpu_us_per_event", "peak_rss_mb", "seconds")}
        if name != "passthrough":
            contenders[name]["ratio"] = report.spread(
                [r["events_per_s"] / p["events_per_s"] for r, p in zip(rows, runs["passthrough"], strict=True)])
    return {"events": backlog.total, "counts": backlog.counts, "produce_seconds": backlog.produce_seconds,
            "contenders": contenders, "runs": runs, "notes": notes}


async def latency(bench: phases.Bench, args: argparse.Namespace) -> dict[str, Any]:
    variants = WHATIF if args.whatif else {}
    scaled = f"bridge x{args.scale_out} (one group)" if args.scale_out > 1 else None
    runs: dict[str, list[dict[str, Any]]] = {"passthrough": [], "bridge": []} | {name: [] for name in variants}
    if scaled:
        runs[scaled] = []
    mixed = [f"passthrough {MIXED}", f"bridge {MIXED}"] if args.mix_seconds > 0 else []
    runs |= {name: [] for name in mixed}
    notes: list[str] = []
    for n in range(args.runs):
        order = ["bridge", "passthrough"] if n % 2 == 0 else ["passthrough", "bridge"]
        order += list(variants) + ([scaled] if scaled in runs else []) + (mixed if n % 2 == 0 else mixed[::-1])
        for who in order:
            kind = "passthrough" if who.startswith("passthrough") else "bridge"
            mix = args.unit_share if who in mixed else None
            # A fresh roster topic per run: a run in the mix appends its AVL to the topic its bridge reads, and a
            # later bridge reading them all at start would be catching up while it is timed.
            roster_topic = await phases.preload_roster(bench) if kind == "bridge" else ""
            try:
                row = await phases.latency(bench, kind, roster_topic, args.rate,
                                           args.mix_seconds if mix is not None else args.latency_seconds,
                                           args.warmup, extra_env=variants.get(who),
                                           instances=args.scale_out if who == scaled else 1, mix=mix)
            except RuntimeError as exc:
                if who != scaled:
                    raise
                # Several members joining one group is where Tansu's rebalances misbehave: report, go on.
                note = f"latency run {n + 1}/{args.runs}: {who} failed ({exc}); left out of the results"
                say(note)
                notes.append(note)
                del runs[scaled]
                continue
            runs[who].append(row)
            say(f"latency run {n + 1}/{args.runs}: {who} p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
                f"max {row['max_ms']:.1f} ms ({row['received']}/{row['sent']})")
    contenders: dict[str, dict[str, Any]] = {}
    for who, rows in runs.items():
        row = {key: report.spread([r[key] for r in rows]) for key in ("p50_ms", "p99_ms", "max_ms")}
        row["sent"], row["received"] = sum(r["sent"] for r in rows), sum(r["received"] for r in rows)
        if not who.startswith("passthrough"):
            pairs = list(zip(rows, runs[f"passthrough {MIXED}" if who.endswith(MIXED) else "passthrough"],
                             strict=True))
            row["added_p50_ms"] = report.spread([b["p50_ms"] - p["p50_ms"] for b, p in pairs])
            row["added_p99_ms"] = report.spread([b["p99_ms"] - p["p99_ms"] for b, p in pairs])
        contenders[who] = row
    out = {"rate": args.rate, "seconds": args.latency_seconds, "warmup": args.warmup, "contenders": contenders,
           "added_p50_ms": contenders["bridge"]["added_p50_ms"], "added_p99_ms": contenders["bridge"]["added_p99_ms"],
           "runs": runs, "notes": notes}
    if mixed:
        out["mix"] = {"seconds": args.mix_seconds, "unit_share": args.unit_share,
                      "added_p50_ms": contenders[mixed[1]]["added_p50_ms"],
                      "added_p99_ms": contenders[mixed[1]]["added_p99_ms"]}
    return out


def rules(args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    for n in range(args.runs):
        runs.append(scaling.rules_scaling())
        say(f"rules run {n + 1}/{args.runs}: " + ", ".join(
            f"{k} phrases {v:.1f} us" for k, v in runs[-1]["us_per_event"].items()))
    sizes = sorted(runs[0]["us_per_event"])
    return {
        "us_per_event": {size: report.spread([r["us_per_event"][size] for r in runs]) for size in sizes},
        "ratio": report.spread([r["ratio"] for r in runs]),
        "default_pack_us": report.spread([r["default_pack_us"] for r in runs if r["default_pack_us"] is not None]),
        "default_pack_phrases": runs[0]["default_pack_phrases"],
        "raw": runs[-1]["raw"],
    }


def ranking(args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    for n in range(args.runs):
        runs.append(scaling.ranking_scaling(seconds=args.ranking_seconds)["rows"])
        say(f"ranking run {n + 1}/{args.runs}: " + ", ".join(
            f"{u} units gap {g}: p99 {row['p99_us']:.0f} us" for (u, g), row in runs[-1].items()))
    rows = []
    for key in sorted(runs[0], key=lambda k: (k[1], k[0])):
        rows.append({"units": key[0], "gap_us": key[1]} | {
            field: report.spread([r[key][field] for r in runs if key in r])
            for field in ("p50_us", "p99_us", "max_us", "apply_p50_us", "apply_p99_us", "avl_per_s")})
    return {"rows": rows}


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    tp = results.get("throughput", {}).get("contenders", {})
    if "bridge (WARNING)" in tp:
        ratio = tp["bridge (WARNING)"]["ratio"]
        rows.append({"target": "throughput >= 0.8x bare passthrough (default pack, 1,000 units, WARNING logs)",
                     "measured": report.fmt(ratio, 2, "x"), "ok": ratio["median"] >= 0.8})
    if "bridge (INFO)" in tp:
        ratio = tp["bridge (INFO)"]["ratio"]
        rows.append({"target": "same, with one INFO log line per flagged event",
                     "measured": report.fmt(ratio, 2, "x"), "ok": ratio["median"] >= 0.8})
    lat = results.get("latency")
    if lat:
        rows.append({"target": "latency added at p50 <= 5 ms", "measured": report.fmt(lat["added_p50_ms"], 1, " ms"),
                     "ok": lat["added_p50_ms"]["median"] <= 5})
        rows.append({"target": "latency added at p99 <= 20 ms",
                     "measured": report.fmt(lat["added_p99_ms"], 1, " ms"), "ok": lat["added_p99_ms"]["median"] <= 20})
        mix = lat.get("mix")
        if mix:
            # The target's other reading: 500 events/s of a CAD's whole feed, timed on the crisis calls in it.
            for q, bound in (("p50", 5), ("p99", 20)):
                rows.append({"target": f"same, {q}, in the backlog's mix of traffic (new crisis calls timed)",
                             "measured": report.fmt(mix[f"added_{q}_ms"], 1, " ms"),
                             "ok": mix[f"added_{q}_ms"]["median"] <= bound})
    rules_ = results.get("rules")
    if rules_:
        rows.append({"target": "rules: 5,000 vs 50 phrases < 2x per event", "measured": report.fmt(rules_["ratio"], 2, "x"),
                     "ok": rules_["ratio"]["median"] < 2})
    rk = results.get("ranking")
    if rk:
        big = [r for r in rk["rows"] if r["units"] == max(x["units"] for x in rk["rows"])]
        for row in big:
            rows.append({"target": f"ranking p99 < 1 ms at {row['units']:,} units (gap {row['gap_us']} us)",
                         "measured": report.fmt(row["p99_us"], 0, " us"), "ok": row["p99_us"]["median"] < 1000})
    mem = results.get("memory")
    if mem:
        first, growth = mem["rss_first_half_max_mb"], mem["growth_mb"]
        measured = ("n/a (too few samples)" if growth is None else
                    f"{first:.0f} MB -> {mem['rss_second_half_max_mb']:.0f} MB")
        if mem["events"] >= 1_000_000:
            rows.append({"target": f"flat memory over {mem['events']:,} events (second-half max RSS within 5% of "
                                   "first-half)", "measured": measured,
                         "ok": None if growth is None else growth <= 0.05 * first})
        else:
            # A short replay is still warming up (allocator arenas, SQLite's page cache, the premise index): it
            # shows the trend, the target is judged on a million events (--long).
            rows.append({"target": f"memory trend over {mem['events']:,} events (the 1,000,000-event target is "
                                   "`--long`, bench/results-long.md)", "measured": measured, "ok": None})
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    results = asyncio.run(run_bench(args, command.strip()))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "results.md").write_text(report.render(results))
    (args.out_dir / "results.json").write_bytes(
        orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str))
    say(f"wrote {args.out_dir / 'results.md'}")
    for row in results["targets"]:
        say(f"{report.verdict(row['ok']).strip('*').upper():8} {row['target']}: {row['measured']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

