"""The baseline: a bare aiokafka loop that consumes, produces each record unchanged, and commits.

    python -m bench.passthrough --bootstrap H:P --group G --topics a,b --output out --expect incidents=N ...

No decoding, no logic: the fastest a Python consumer-producer on this broker can go, and the yardstick for the
bridge (same broker, same events, same consumer and producer settings, its own process). Per batch it enqueues
every record without awaiting each send, awaits the acknowledgements, then commits the batch, so a commit never
covers unwritten output (the same guarantee the bridge keeps). Speaks the ``bench.progress`` line protocol;
counts records of topic ``t`` under the stream named by ``--stream t=name``.

``--burn-us N`` spins N microseconds of CPU per record before sending it: a stand-in for per-event work, to see
what a given CPU cost per event does to latency on this machine (``python -m bench.whatif --burn-us ...``).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener

from bench.progress import Progress, emit, parse_expected


class _Ready(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    async def on_partitions_revoked(self, revoked: object) -> None:
        return None

    async def on_partitions_assigned(self, assigned: set[object]) -> None:
        if assigned and self.progress.started_at is None:
            self.progress.start()
            emit("ready")


async def run(args: argparse.Namespace) -> None:
    streams = dict(pair.split("=", 1) for pair in args.stream)
    progress = Progress({"incidents": 0, "units": 0} | parse_expected(args.expect))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=args.bootstrap, group_id=args.group, enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_wait_ms=args.fetch_max_wait_ms,
        session_timeout_ms=args.session_timeout_ms, heartbeat_interval_ms=args.heartbeat_interval_ms,
        max_partition_fetch_bytes=1_048_576 + 65_536, fetch_max_bytes=52_428_800,
    )
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all", enable_idempotence=False,
                                linger_ms=args.linger_ms, max_batch_size=256 * 1024)
    await producer.start()
    consumer.subscribe(args.topics.split(","), listener=_Ready(progress))
    await consumer.start()
    reporter = asyncio.create_task(progress.report(args.interval))
    output = args.output
    burn = args.burn_us / 1e6
    marked = args.forward_marked or None
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=args.poll_timeout_ms, max_records=args.max_records)
            if not batch:
                continue
            futures = []
            for records in batch.values():
                for record in records:
                    if burn:
                        _spin(burn)
                    if marked is not None and not any(name == marked for name, _ in record.headers):
                        continue
                    headers = record.headers  # aiokafka reads a tuple, and sends only a list
                    futures.append(await producer.send(output, record.value, key=record.key,
                                                       headers=list(headers) if headers else headers))
            await asyncio.gather(*futures)
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in batch.items()})
            for tp, records in batch.items():
                progress.add(streams.get(tp.topic, tp.topic), len(records))
    finally:
        reporter.cancel()
        await consumer.stop()
        await producer.stop()


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--topics", required=True, help="comma-separated input topics")
    parser.add_argument("--output", required=True)
    parser.add_argument("--stream", action="append", default=[], help="topic=stream name for the counts")
    parser.add_argument("--expect", action="append", default=[], help="stream=count")
    parser.add_argument("--fetch-max-wait-ms", type=int, default=20)
    parser.add_argument("--poll-timeout-ms", type=int, default=100)
    parser.add_argument("--max-records", type=int, default=1000)
    parser.add_argument("--linger-ms", type=int, default=2)
    parser.add_argument("--session-timeout-ms", type=int, default=6000)
    parser.add_argument("--heartbeat-interval-ms", type=int, default=500)
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--burn-us", type=float, default=0.0, help="CPU to spin per record (a stand-in for work)")
    parser.add_argument("--forward-marked", default="",
                        help="forward only records with this header (the rest are consumed and committed)")
    args = parser.parse_args()
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
