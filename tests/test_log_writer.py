"""Log lines reach file descriptor 2 whole, in order and all of them, written together once the event loop yields.

Each case runs in a fresh interpreter configured as the service configures itself (JSON lines), with descriptor 2
on a real file; ``os.write`` is observed (each call counted, then passed on) so the test can see how lines were
grouped into writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

PRELUDE = """
import asyncio, logging, os, sys, threading
WRITES = []
_real_write = os.write
def counting_write(fd, data):
    if fd == 2:
        WRITES.append(len(data))
    return _real_write(fd, data)
os.write = counting_write
from dispatch_bridge.observability import configure_logging
import structlog
configure_logging("INFO", "json")
log = structlog.get_logger("dispatch_bridge.events")
"""


def run(tmp_path: Path, body: str) -> tuple[list[dict[str, object]], str]:
    """The lines written to descriptor 2 (parsed), and what the script printed on stdout."""
    err = tmp_path / "stderr.log"
    script = PRELUDE + textwrap.dedent(body)
    with err.open("wb") as sink:
        done = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=sink, timeout=60,
                              check=True, cwd=Path(__file__).resolve().parents[1])
    lines = err.read_bytes().splitlines()
    return [json.loads(line) for line in lines], done.stdout.decode()


def test_a_synchronous_stretch_of_lines_is_written_in_few_whole_writes_after_the_loop_yields(tmp_path: Path) -> None:
    lines, out = run(tmp_path, """
        async def main():
            for n in range(500):
                log.info("event", n=n, incident_id="INC-%d" % n, outcome="not_crisis")
            during = len(WRITES)
            await asyncio.sleep(0)
            print(during, len(WRITES), max(WRITES))
        asyncio.run(main())
    """)
    during, after, largest = map(int, out.split())
    assert during == 0, "lines are kept while the loop runs synchronous code"
    assert [line["n"] for line in lines] == list(range(500))
    # About 130 bytes a line, at most 4,096 bytes a write: tens of writes, not 500.
    assert 10 <= after <= 40
    assert largest <= 4096


def test_stdlib_records_keep_their_place_among_structlog_lines(tmp_path: Path) -> None:
    lines, _ = run(tmp_path, """
        async def main():
            log.info("first")
            logging.getLogger("aiokafka.consumer").warning("second")
            log.info("third")
        asyncio.run(main())
    """)
    assert [line["event"] for line in lines] == ["first", "second", "third"]


def test_a_warning_is_written_at_once_after_the_lines_kept_before_it(tmp_path: Path) -> None:
    lines, out = run(tmp_path, """
        async def main():
            log.info("kept")
            log.warning("store_write_failed")
            print(len(WRITES))
            log.info("kept again")
        asyncio.run(main())
    """)
    assert int(out) == 1, "the warning went out with the line kept before it, while the loop was still busy"
    assert [line["event"] for line in lines] == ["kept", "store_write_failed", "kept again"]


def test_lines_still_kept_when_the_loop_closes_are_written_at_exit(tmp_path: Path) -> None:
    lines, _ = run(tmp_path, """
        async def main():
            log.info("service_stopped")  # the last line, the loop closes before the flush runs
        asyncio.run(main())
    """)
    assert [line["event"] for line in lines] == ["service_stopped"]


def test_a_new_loop_flushes_what_a_closed_one_left_scheduled(tmp_path: Path) -> None:
    lines, out = run(tmp_path, """
        async def first():
            log.info("from the first loop")
        async def second():
            log.info("from the second loop")
            await asyncio.sleep(0)
            print(len(WRITES))
        asyncio.run(first())
        asyncio.run(second())
    """)
    assert int(out) >= 1, "the second loop wrote its lines itself, not only at exit"
    assert [line["event"] for line in lines] == ["from the first loop", "from the second loop"]


def test_a_line_from_outside_any_loop_is_written_at_once(tmp_path: Path) -> None:
    lines, out = run(tmp_path, """
        thread = threading.Thread(target=lambda: log.warning("from a thread"))
        thread.start(); thread.join()
        print(len(WRITES))
        log.info("from the main thread")
        print(len(WRITES))
    """)
    assert out.split() == ["1", "2"]
    assert [line["event"] for line in lines] == ["from a thread", "from the main thread"]
