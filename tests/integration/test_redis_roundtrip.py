"""HSET + PUBLISH against the real Redis of the fixtures."""

import pytest

pytestmark = pytest.mark.slow


def test_hset_then_publish_reaches_a_subscriber(redis_conn):
    pubsub = redis_conn.pubsub()
    pubsub.subscribe("qc:test")
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"

    redis_conn.hset("qc:test:hash", mapping={"obi_5": "0.25", "update_id": "42"})
    receivers = redis_conn.publish("qc:test", b"\x08\x2a")

    message = pubsub.get_message(timeout=2)
    assert receivers == 1
    assert message["data"] == b"\x08\x2a"
    assert redis_conn.hgetall("qc:test:hash") == {b"obi_5": b"0.25", b"update_id": b"42"}
    pubsub.close()
