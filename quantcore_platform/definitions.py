"""The platform's Dagster code location: streams, their health, and the replays.

Asset graph: `book_topic` (Kafka) -> `live_signals` (Redis, kept fresh by the streams)
and `book_topic` -> `books_raw` -> `book_signals`, `trade_topic` -> `trades` (Delta, rebuilt by replays).
"""

from dagster import AssetSpec, Definitions

from quantcore_platform.replay_assets import REPLAY_ASSET_CHECKS, REPLAY_ASSETS, REPLAY_JOBS, REPLAY_SCHEDULES
from quantcore_platform.resources import QuantcoreSettingsResource
from quantcore_platform.sensors import stream_failure_alert, stream_health_sensor, streams_healthy
from quantcore_platform.stream_jobs import LIVE_SIGNALS, STREAM_JOBS

book_topic = AssetSpec(
    "book_topic",
    description="Kafka topic of protobuf BookRecords, key = symbol (written by the ingest stream).",
    group_name="market_data",
    kinds={"kafka"},
)
trade_topic = AssetSpec(
    "trade_topic",
    description="Kafka topic of protobuf TradeRecords, key = symbol (written by the ingest stream when trades are on).",
    group_name="market_data",
    kinds={"kafka"},
)
live_signals = AssetSpec(
    LIVE_SIGNALS,
    deps=[book_topic],
    description="Latest signals per symbol in Redis (qc:sig:*), written by the compute stream "
                "and pushed to clients by the serve stream.",
    group_name="market_data",
    kinds={"spark", "redis"},
)

defs = Definitions(
    assets=[book_topic, trade_topic, live_signals, *REPLAY_ASSETS],
    asset_checks=[streams_healthy, *REPLAY_ASSET_CHECKS],
    jobs=[*STREAM_JOBS.values(), *REPLAY_JOBS],
    schedules=REPLAY_SCHEDULES,
    sensors=[stream_health_sensor, stream_failure_alert],
    resources={"quantcore": QuantcoreSettingsResource()},
)
