"""The one way every part of the platform connects to Kafka and Redis.

Client factories live in the shared core so the data plane (ingest, Spark executors, the
gRPC server) never imports the control plane's process managers to get a connection.
"""

from __future__ import annotations

import redis
from confluent_kafka.admin import AdminClient

from quantcore.settings import KafkaSettings, RedisSettings, reveal


def redis_client(settings: RedisSettings, **kwargs) -> redis.Redis:
    """A Redis client for the configured URL (TLS via rediss://)."""
    return redis.Redis.from_url(settings.address, password=reveal(settings.password), **kwargs)


def redis_healthy(settings: RedisSettings) -> bool:
    try:
        return bool(redis_client(settings, socket_timeout=1, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def admin_client(settings: KafkaSettings) -> AdminClient:
    # log_level 0: a broker that is still starting is expected, not worth a log line.
    return AdminClient({**settings.client_config(), "socket.timeout.ms": 3000, "log_level": 0})


def live_brokers(settings: KafkaSettings, bootstrap: str | None = None) -> set[int]:
    """Ids of the brokers the cluster's metadata lists (asked of `bootstrap` only, when
    given); empty when nothing answers."""
    config = {**settings.client_config(), "socket.timeout.ms": 3000, "log_level": 0}
    if bootstrap:
        config["bootstrap.servers"] = bootstrap
    try:
        return set(AdminClient(config).list_topics(timeout=2).brokers)
    except Exception:  # noqa: BLE001 - any failure means "not healthy yet"
        return set()


def kafka_healthy(settings: KafkaSettings) -> bool:
    try:
        metadata = admin_client(settings).list_topics(timeout=2)
    except Exception:  # noqa: BLE001 - any failure means "not healthy yet"
        return False
    return bool(metadata.brokers)
