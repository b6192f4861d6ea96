"""Session-wide real services for the integration tests.

One Kafka broker, one Redis and one SparkSession per test session, on free ephemeral
ports in a temporary platform home, so the suite never collides with a running
platform. Tests that need isolation create their own topic (`fresh_topic`) or key prefix.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Settings come from the fixtures below, never from the developer's shell.
for _name in [name for name in os.environ if name.startswith("QUANTCORE_")]:
    del os.environ[_name]
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"

from quantcore.clients import admin_client, redis_client  # noqa: E402
from quantcore.topics import ensure_topics  # noqa: E402
from quantcore_platform.services.kafka_broker import KafkaBroker  # noqa: E402
from quantcore_platform.services.redis_server import RedisServer  # noqa: E402
from quantcore.settings import Settings  # noqa: E402
from tests.support import make_settings  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def qc_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("qc-home"))


@pytest.fixture(scope="session")
def kafka(qc_settings: Settings) -> Iterator[Settings]:
    broker = KafkaBroker(qc_settings)
    broker.start()
    ensure_topics(qc_settings.kafka)
    yield qc_settings
    broker.stop()


@pytest.fixture(scope="session")
def redis_service(qc_settings: Settings) -> Iterator[Settings]:
    server = RedisServer(qc_settings)
    server.start()
    yield qc_settings
    server.stop()


@pytest.fixture
def redis_conn(redis_service: Settings):
    client = redis_client(redis_service.redis)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def spark(qc_settings: Settings):
    from quantcore.spark_session import build_spark_session

    session = build_spark_session(qc_settings.spark, qc_settings.paths, app_name="quantcore-tests")
    yield session
    session.stop()


@pytest.fixture
def fresh_topic(kafka: Settings):
    """A new topic per test (30 partitions, append-time stamps), deleted afterwards."""
    from confluent_kafka.admin import NewTopic

    name = f"qc.test.{uuid.uuid4().hex[:10]}"
    admin = admin_client(kafka.kafka)
    config = {"message.timestamp.type": "LogAppendTime"}
    admin.create_topics([NewTopic(name, kafka.kafka.partitions, 1, config=config)])[name].result()
    yield name
    admin.delete_topics([name])


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
