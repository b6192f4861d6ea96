"""The shard's Kafka producer settings, and what happens when Kafka cannot be reached."""

from __future__ import annotations

import pytest

from quantcore.errors import PlatformError
from quantcore_platform.services.process import free_port
from quantcore.settings import load_settings
from streaming.ingest.counters import IngestCounters
from streaming.ingest.producer import KafkaSink, producer_config


def test_the_producer_is_idempotent_compressed_bounded_and_keyed_like_java():
    settings = load_settings(ingest_linger_ms=3, ingest_compression="zstd", ingest_producer_queue_max=5000,
                             ingest_delivery_timeout_s=45)
    config = producer_config(settings.kafka, settings.ingest, report_successes=False)
    assert config["enable.idempotence"] is True and config["acks"] == "all"
    assert config["compression.type"] == "zstd" and config["linger.ms"] == 3
    assert config["queue.buffering.max.messages"] == 5000
    assert config["message.timeout.ms"] == 45_000  # how long a broker outage the queue rides through
    assert config["partitioner"] == "murmur2_random"  # the Java client's choice: same partition per key
    assert config["delivery.report.only.error"] is True
    reporting = producer_config(settings.kafka, settings.ingest, report_successes=True)
    assert reporting["delivery.report.only.error"] is False


def test_undeliverable_records_are_counted_not_hung_on():
    settings = load_settings(kafka_bootstrap=f"127.0.0.1:{free_port()}")  # nothing listens there
    counters = IngestCounters()
    sink = KafkaSink(settings.kafka, settings.ingest, counters)
    for i in range(3):
        sink.publish("BTCUSDT", b"record %d" % i)
    sink.dead_letter("", b"bad frame")
    # len(producer) also counts the client's own queued requests (the idempotent producer's
    # InitProducerId, when it is still waiting): at least the 4 records.
    assert sink.pending() >= 4
    assert sink.close(timeout_s=1.0) >= 4
    assert counters.delivery_errors == 4, "each record gets exactly one failed, counted report"


def test_ingest_refuses_to_start_without_kafka_and_says_how_to_fix_it():
    settings = load_settings(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    sink = KafkaSink(settings.kafka, settings.ingest, IngestCounters())
    with pytest.raises(PlatformError) as refused:
        sink.wait_until_ready(timeout_s=1.0)
    assert "Kafka is not ready for ingest" in refused.value.problem and "quantcore up" in refused.value.fix
    sink.close(0)


def test_trade_records_share_the_producer_on_their_own_topic_unless_trades_are_off():
    settings = load_settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", trade_topic="qc.trades.test")
    counters = IngestCounters()
    sink = KafkaSink(settings.kafka, settings.ingest, counters)  # ingest.trades defaults to `trade`
    assert sink.trade_topic == "qc.trades.test"
    sink.publish_trade("BTCUSDT", b"trade")
    with pytest.raises(PlatformError) as refused:
        sink.wait_until_ready(timeout_s=0.5)
    assert "QUANTCORE_INGEST_TRADES=off" in refused.value.fix  # books only is a way out
    assert sink.close(timeout_s=1.0) >= 1 and counters.delivery_errors == 1

    books_only = KafkaSink(settings.kafka, settings.override(ingest_trades="off").ingest, IngestCounters())
    assert books_only.trade_topic is None
    with pytest.raises(RuntimeError, match="ingest.trades off"):
        books_only.publish_trade("BTCUSDT", b"trade")
    books_only.close(0)
