"""The benchmark suite runs end to end in a tiny configuration and writes its results (no timed assertions)."""

from __future__ import annotations

from pathlib import Path

import orjson

from bench.__main__ import main
from bench.traffic import backlog, build_traffic, crisis_events


def test_traffic_is_realistic_and_padding_never_changes_triage() -> None:
    traffic = build_traffic(calls=40)
    described = traffic.describe()
    assert described["padding_flips"] == 0
    assert described["roster_units"] == 1000
    assert 0.1 < described["crisis_share"] < 0.6
    records = list(backlog(traffic, 400, unit_share=0.5))
    kinds = {kind for kind, _, _ in records}
    assert kinds == {"incidents", "units"}
    incident_ids = {orjson.loads(v)["incident"]["id"] for k, _, v in records if k == "incidents"}
    assert all(i.startswith("INC-b") for i in incident_ids)
    sizes = [sum(len(e["text"]) for e in orjson.loads(v)["incident"]["narrative"])
             for k, _, v in records if k == "incidents"]
    assert min(sizes) >= 1000
    keys = [key for key, _ in crisis_events(traffic, 300, "L")]
    assert len(set(keys)) == 300


def test_bench_runs_tiny_and_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = main(["--runs", "1", "--events", "400", "--memory-events", "400", "--latency-seconds", "0.5",
                 "--mix-seconds", "3", "--warmup", "0.2", "--calls", "40", "--session-timeout-ms", "2000", "--no-info",
                 "--skip", "rules,ranking,profile", "--out-dir", str(out), "--workdir", str(tmp_path / "work")])
    assert code == 0
    text = (out / "results.md").read_text()
    assert "python -m bench --runs 1" in text
    for section in ("## Machine", "## Targets", "## Throughput", "## Latency", "## Memory"):
        assert section in text
    results = orjson.loads((out / "results.json").read_bytes())
    passthrough = results["throughput"]["contenders"]["passthrough"]
    bridge = results["throughput"]["contenders"]["bridge (WARNING)"]
    assert passthrough["events_per_s"]["median"] > 0 and bridge["events_per_s"]["median"] > 0
    assert results["throughput"]["events"] == 400
    # Scale-out: two members of one group drained the backlog together, its incident partitions split between
    # them (each partition owned by exactly one member at the end).
    scaled = results["throughput"]["runs"]["bridge x2 (one group)"][0]
    assert scaled["events_per_s"] > 0 and scaled["members"] == 2
    # One assignment each (a rebalanced attempt is run again), both members busy, every partition owned once.
    assert [len(member) for member in scaled["assignments"]] == [1, 1]
    first, second = (member[0] for member in scaled["assignments"])
    assert first and second
    assert sorted(first + second) == list(range(6))
    for who in ("bridge", "passthrough", "bridge (mixed traffic)", "passthrough (mixed traffic)"):
        row = results["latency"]["contenders"][who]
        assert row["received"] == row["sent"] > 0  # every timed event came out the far end
    # In the mix only the new crisis calls are timed: a few in a hundred records, not every one.
    assert 0 < results["latency"]["contenders"]["bridge (mixed traffic)"]["sent"] < 0.1 * 500 * 3
    assert "same, p50, in the backlog's mix of traffic" in text
    assert results["memory"]["events"] == 400 + 1000  # the replay plus the roster read first
