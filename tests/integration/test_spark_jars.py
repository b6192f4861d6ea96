"""Spark with the Maven-resolved jars only: reads Kafka, round-trips Delta, offline."""

import pytest
from confluent_kafka import Producer

pytestmark = pytest.mark.slow


def test_spark_reads_the_fixture_kafka(spark, kafka, fresh_topic):
    producer = Producer(kafka.kafka.client_config())
    for i in range(100):
        producer.produce(fresh_topic, key=f"K{i % 7}", value=str(i).encode())
    assert producer.flush(10) == 0

    frame = (spark.read.format("kafka").options(**kafka.kafka.spark_options())
             .option("subscribe", fresh_topic).option("startingOffsets", "earliest").load())
    rows = frame.selectExpr("CAST(key AS STRING) k", "CAST(value AS STRING) v", "timestampType").collect()

    assert sorted(int(r.v) for r in rows) == list(range(100))
    assert {r.k for r in rows} == {f"K{i}" for i in range(7)}
    assert {r.timestampType for r in rows} == {1}, "book topics stamp the Kafka append time"


def test_spark_round_trips_a_delta_table(spark, tmp_path):
    path = str(tmp_path / "delta_roundtrip")
    spark.createDataFrame([(1, "BTCUSDT"), (2, "ETHUSDT")], "id INT, symbol STRING") \
        .write.format("delta").mode("overwrite").save(path)
    spark.createDataFrame([(3, "SOLUSDT")], "id INT, symbol STRING").write.format("delta").mode("append").save(path)

    rows = spark.read.format("delta").load(path).orderBy("id").collect()
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()

    assert [(r.id, r.symbol) for r in rows] == [(1, "BTCUSDT"), (2, "ETHUSDT"), (3, "SOLUSDT")]
    assert len(history) == 2
