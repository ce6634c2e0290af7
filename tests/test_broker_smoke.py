"""The embedded broker works with aiokafka: produce, then consume with a group and a manual commit."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def test_produce_consume_commit(broker, unique):
    topic = f"smoke-{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    for i in range(10):
        await producer.send_and_wait(topic, f"v{i}".encode(), key=f"k{i % 3}".encode())
    await producer.stop()

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap_servers, group_id=f"g-{unique}",
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                session_timeout_ms=6000, heartbeat_interval_ms=500, fetch_max_wait_ms=50)
    await consumer.start()
    seen = []
    async with asyncio.timeout(30):
        while len(seen) < 10:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                seen.extend(r.value for r in records)
    await consumer.commit()
    await consumer.stop()
    assert sorted(seen) == sorted(f"v{i}".encode() for i in range(10))
