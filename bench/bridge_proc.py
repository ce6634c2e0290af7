"""The bridge as the benchmark runs it: ``dispatch-bridge run`` (settings from ``DISPATCH_BRIDGE_*``) plus counters.

    python -m bench.bridge_proc --expect incidents=50000 --expect units=50000 [--ready-units 1000] [--cprofile F]

It builds the real ``Service`` and serves it exactly as ``dispatch-bridge run`` does (HTTP API included), in its
own process so its CPU is its own. Instrumentation only observes, through three hooks:
- the incident consumer's batch handler is wrapped to count records whose output is acknowledged (and, as one
  member of a group, ``--partition-ends``, which of its partitions are read to their end);
- the roster reader is held until the incident consumer has joined its group, so both streams of a backlog start
  draining together (otherwise the roster drains alone during the ~3 s group join, and the join idles in the
  figure), and its ``records_read`` is sampled after every batch;
- the partitions-assigned callback starts the clock.
Progress goes to stdout as JSON lines (``bench.progress``); the service's own logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
from pathlib import Path
from typing import Any

from bench.progress import Progress, emit, parse_expected


async def run(expected: dict[str, int], ready_units: int, profile_path: Path | None, interval: float,
              partition_ends: dict[int, int] | None = None) -> int:
    from dispatch_bridge.bus.consumer import Handled
    from dispatch_bridge.observability import configure_logging
    from dispatch_bridge.server import serve
    from dispatch_bridge.service import Service
    from dispatch_bridge.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level, "json")
    _what_if(os.environ.get("BENCH_WHATIF", ""))
    service = Service(settings)
    progress = Progress(expected)
    assigned = asyncio.Event()
    profiler = cProfile.Profile() if profile_path else None

    consumer = service.incidents
    handle = consumer._handler

    reached: dict[int, int] = {}  # per incident partition, the next offset whose output is acknowledged
    owned: set[int] = set()

    def count_partitions_read() -> None:
        assert partition_ends is not None
        progress.set("partitions", sum(reached.get(p, 0) >= partition_ends.get(p, 0) for p in owned))

    def acknowledged(records: int, offsets: dict[Any, int]) -> None:
        progress.add("incidents", records)
        for tp, next_offset in offsets.items():
            reached[tp.partition] = max(reached.get(tp.partition, 0), next_offset)
        if partition_ends is not None:
            count_partitions_read()
        if profiler is not None and progress.drained_at is not None:
            profiler.disable()

    async def counted(batch: Any) -> Any:
        handled = await handle(batch)
        records = sum(len(records) for records in batch.values())
        offsets = handled.offsets if isinstance(handled, Handled) else handled
        durable = handled.durable if isinstance(handled, Handled) else None
        if durable is None:
            acknowledged(records, offsets)
        else:
            # Done when the batch's output is acknowledged and its outcome rows written, not when it is processed.
            durable.add_done_callback(
                lambda f: None if f.cancelled() or f.exception() is not None else acknowledged(records, offsets))
        return handled

    def on_assigned(partitions: set[Any]) -> None:
        emit("assigned", partitions=sorted(tp.partition for tp in partitions))
        if partition_ends is not None:
            # One member of a group: done once every partition it owns is read to its end. (A second assignment
            # is a rebalance, which the driver watches for: the run is abandoned and started again.)
            owned.clear()
            owned.update(tp.partition for tp in partitions)
            progress.expected["partitions"] = len(owned)
            count_partitions_read()
        if partitions and not assigned.is_set():
            assigned.set()
            progress.start()
            if profiler is not None:
                profiler.enable()

    consumer._handler = counted
    consumer._on_assigned = on_assigned

    table = service.units
    table_run = table.run
    batch_done = table._on_batch_done

    async def gated_run(stop: asyncio.Event) -> None:
        await assigned.wait()
        await table_run(stop)

    def units_batch_done() -> None:
        if batch_done is not None:
            batch_done()
        progress.set("units", table.records_read)

    table.run = gated_run  # type: ignore[method-assign]
    table._on_batch_done = units_batch_done

    async def announce_ready() -> None:
        await assigned.wait()
        while table.records_read < ready_units:
            await asyncio.sleep(0.005)
        emit("ready", units=table.records_read)

    def state() -> dict[str, Any]:
        return {"open_incidents": len(service.processor.book), "roster_units": len(service.roster.units)}

    reporters = [asyncio.create_task(announce_ready()), asyncio.create_task(progress.report(interval, state))]
    if os.environ.get("BENCH_TRACEMALLOC"):
        reporters.append(asyncio.create_task(_heap_snapshots(Path(os.environ["BENCH_TRACEMALLOC"]), assigned)))
    try:
        return await serve(settings, service)
    finally:
        for task in reporters:
            task.cancel()
        if profiler is not None and profile_path is not None:
            profiler.disable()
            profiler.dump_stats(profile_path)


async def _heap_snapshots(directory: Path, assigned: asyncio.Event, every: float = 10.0) -> None:
    """``BENCH_TRACEMALLOC=dir``: a tracemalloc snapshot of the Python heap every ``every`` seconds once assigned
    (``snap-N.tm``; compare two with ``tracemalloc.Snapshot.load``): what grows, by line. Slows the bridge."""
    import tracemalloc

    directory.mkdir(parents=True, exist_ok=True)
    await assigned.wait()
    tracemalloc.start(4)
    n = 0
    while True:
        await asyncio.sleep(every)
        tracemalloc.take_snapshot().dump(str(directory / f"snap-{n}.tm"))
        n += 1


def _what_if(changes: str) -> None:
    """Experiments the benchmark can measure before anyone changes the service (``BENCH_WHATIF=gc``).

    gc: freeze the start-up heap and collect the young generation every 50,000 allocations instead of 700 (what
    a long-running service with a large resident heap usually does; CPython's default is tuned for scripts).
    no-store-write: the outcome rows are built and sorted as ever, but the SQLite batch write is skipped (what the
    write's thread costs the drain: its GIL time and its CPU beside the broker's on two cores). A measurement only:
    the rows are lost. no-store-rows: the outcome store's write does nothing at all (no rows built either).
    no-fold: every revision's rows written as they are, not folded per key first (what the fold saves).
    py-scan: the decoder's safety scan in pure Python instead of compiled (what ``contracts/_scan.c`` saves).
    py-text: triage's normalise in pure Python instead of compiled (what ``triage/_text.c`` saves).
    """
    for change in filter(None, changes.split(",")):
        if change == "gc":
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 50, 100)
        elif change == "no-store-write":
            from dispatch_bridge.outcomes.backends import SqliteBackend

            async def skip_write(self: SqliteBackend, statements: Any) -> None:
                return None

            SqliteBackend.write_batch = skip_write  # type: ignore[method-assign]
        elif change == "no-store-rows":
            from dispatch_bridge.outcomes.store import SqlOutcomeStore

            async def skip_rows(self: SqlOutcomeStore, batch: Any) -> None:
                return None

            SqlOutcomeStore.write = skip_rows  # type: ignore[method-assign]
        elif change == "no-fold":
            from dispatch_bridge.outcomes import store

            store.fold_incidents = store.fold_units = store.fold_premises = lambda rows: rows  # type: ignore[assignment]
        elif change == "py-scan":
            from dispatch_bridge.contracts import structs

            structs._fast_path_safe = structs._fast_path_safe_py
        elif change == "py-text":
            from dispatch_bridge.triage import text

            text._normalise_ascii = None
        else:
            raise SystemExit(f"unknown BENCH_WHATIF change {change!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--expect", action="append", default=[], help="stream=count (incidents, units)")
    parser.add_argument("--ready-units", type=int, default=0, help="say ready once this many unit records are read")
    parser.add_argument("--cprofile", type=Path, default=None, help="profile the drain into this pstats file")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between progress samples")
    parser.add_argument("--partition-ends", default=None,
                        help="partition=end offset,... of the incident topic: done once the assigned ones are read")
    args = parser.parse_args()
    expected = {"incidents": 0, "units": 0} | parse_expected(args.expect)
    ends = None
    if args.partition_ends:
        ends = {int(p): int(n) for p, n in (pair.split("=") for pair in args.partition_ends.split(","))}
        expected["partitions"] = len(ends)  # until the assignment says how many this member owns
    return asyncio.run(run(expected, args.ready_units, args.cprofile, args.interval, ends))


if __name__ == "__main__":
    raise SystemExit(main())
