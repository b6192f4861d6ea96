"""One typed settings object for the whole platform.

Every value comes from (highest first) explicit arguments, `QUANTCORE_*` environment
variables, an optional TOML file (`QUANTCORE_CONFIG`, default `quantcore.toml` in the
working directory), then the defaults below. Invalid values fail at start with a message
that names the setting and says how to fix it (see `load_settings`).
"""

from __future__ import annotations

import os
from datetime import date
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

REPO_ROOT = Path(__file__).resolve().parent.parent

# The seed's universe: 30 liquid USDT pairs.
DEFAULT_SYMBOLS = (
    "BTCUSDT ETHUSDT BNBUSDT SOLUSDT XRPUSDT DOGEUSDT ADAUSDT TRXUSDT AVAXUSDT LINKUSDT "
    "DOTUSDT MATICUSDT LTCUSDT BCHUSDT SHIBUSDT UNIUSDT ATOMUSDT XLMUSDT ETCUSDT FILUSDT "
    "APTUSDT ARBUSDT OPUSDT NEARUSDT ICPUSDT HBARUSDT VETUSDT INJUSDT SUIUSDT AAVEUSDT"
).split()


class Source(str, Enum):
    simulator = "simulator"
    binance = "binance"


class BookModeSetting(str, Enum):
    partial = "partial"  # Binance @depth<N>@100ms top-N snapshots
    diff = "diff"  # local book from REST snapshot + @depth@100ms diffs


class TriggerMode(str, Enum):
    microbatch = "microbatch"
    realtime = "realtime"


class ConfigError(Exception):
    """A setting is invalid; the message names it and says how to fix it."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="QUANTCORE_",
        extra="forbid",
        validate_default=True,
    )

    # --- where things live -------------------------------------------------------
    home: Path = Field(REPO_ROOT / ".quantcore", description="Platform home: data, logs, pids.")
    jars_dir: Path = Field(REPO_ROOT / ".quantcore" / "jars", description="Maven-resolved jars (`make jars`).")
    data_root: str | None = Field(None, description="Delta tables root: a path or s3:// URI (default: <home>/delta).")
    checkpoint_root: str | None = Field(None, description="Spark checkpoints (default: <home>/checkpoints).")

    # --- Kafka -------------------------------------------------------------------
    kafka_bootstrap: str | None = Field(None, description="External Kafka bootstrap servers; unset = local broker.")
    kafka_port: int = Field(9092, ge=1, le=65535)
    kafka_controller_port: int = Field(9093, ge=1, le=65535)
    kafka_security_protocol: str = Field("PLAINTEXT", description="PLAINTEXT | SSL | SASL_SSL.")
    kafka_sasl_mechanism: str | None = Field(None, description="SCRAM-SHA-512 (MSK SCRAM) or PLAIN.")
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ca_file: str | None = Field(None, description="CA bundle for TLS; unset = system CAs.")
    book_topic: str = "qc.books.v1"
    dead_letter_topic: str = "qc.deadletter.v1"
    partitions: int = Field(30, ge=1, le=1000)
    replication_factor: int = Field(1, ge=1, le=5, description="Topic replicas (3 on a real cluster).")
    kafka_retention_hours: int = Field(72, ge=1)
    kafka_heap: str = Field("1g", description="Broker JVM heap (-Xmx).")

    # --- Redis -------------------------------------------------------------------
    redis_url: str | None = Field(None, description="External Redis URL (redis:// or rediss://); unset = local.")
    redis_port: int = Field(6379, ge=1, le=65535)
    redis_password: str | None = None

    # --- exchange and ingest ------------------------------------------------------
    symbols: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    source: Source = Source.simulator
    book_mode: BookModeSetting = BookModeSetting.diff
    depth: int = Field(20, description="Levels per record: 5, 10 or 20.")
    shards: int = Field(3, ge=1, le=64)
    simulator_port: int = Field(8765, ge=1, le=65535)
    simulator_rate_hz: float = Field(10.0, gt=0, le=10_000, description="Updates per symbol per second.")
    simulator_seed: int = 7
    binance_ws_url: str = "wss://stream.binance.com:9443"
    binance_rest_url: str = "https://api.binance.com"
    simulator_ping_interval_s: float = Field(20.0, gt=0, description="Server pings (Binance: every 20 s).")
    simulator_levels: int = Field(100, ge=20, le=5000, description="Price levels per side the simulator keeps.")
    ingest_reconnect_base_s: float = Field(0.5, gt=0, description="First reconnect delay; doubles per failure, jittered.")
    ingest_reconnect_max_s: float = Field(30.0, gt=0, description="Cap of the reconnect delay.")
    ingest_max_connection_age_s: float = Field(
        23 * 3600.0, gt=0, description="Reconnect proactively (with overlap) before Binance's 24 h cut-off.")
    ingest_handover_overlap_s: float = Field(2.0, ge=0, description="Old and new connection overlap on a handover.")
    ingest_streams_per_connection: int = Field(1024, ge=1, le=1024, description="Binance allows 1024.")
    ingest_ping_interval_s: float = Field(20.0, gt=0, description="Client keepalive pings (detect a stalled server).")
    ingest_ping_timeout_s: float = Field(20.0, gt=0, description="A missing pong after this long drops the connection.")
    ingest_snapshot_limit: int = Field(1000, ge=5, le=5000, description="Levels of the REST snapshot (diff mode).")
    ingest_producer_queue_max: int = Field(100_000, ge=1000, description="Bounded local Kafka producer queue.")
    ingest_linger_ms: float = Field(5.0, ge=0, le=1000, description="Producer batching delay.")
    ingest_compression: str = Field("lz4", pattern="^(none|gzip|snappy|lz4|zstd)$")
    ingest_restart_backoff_s: float = Field(1.0, gt=0, description="Shard runner: first restart delay of a crashed shard.")
    ingest_restart_backoff_max_s: float = Field(30.0, gt=0, description="Shard runner: cap of the restart delay.")
    simulator_host: str = Field("127.0.0.1", description="Where the simulator listens / the shards find it.")

    # --- compute ------------------------------------------------------------------
    spark_master: str = "local[2]"
    spark_driver_memory: str = "2g"
    spark_ui: bool = Field(False, description="Serve the Spark UI (port 4040+).")
    trigger_mode: TriggerMode = Field(
        TriggerMode.realtime,
        description="realtime: ms latency, one Spark task per book partition; microbatch: more throughput (bench/scenarios/compute.py).")
    trigger_interval_ms: int = Field(0, ge=0, description="Micro-batch trigger; 0 = as fast as possible.")
    max_offsets_per_trigger: int = Field(200_000, ge=1)
    obi_lambda: float = Field(0.5, ge=0, description="Decay of the depth-weighted OBI.")
    compute_fetch_max_wait_ms: int = Field(
        5, ge=0, le=500,
        description="Micro-batch: Kafka fetch.max.wait.ms of the source; low, or each read waits on a long-poll prefetch.")
    compute_async_progress: bool = Field(
        True, description="Micro-batch: write offsets and commits off the critical path (the Redis sink is idempotent).")
    compute_writer_tasks: int = Field(0, ge=0, description="Micro-batch writer tasks per batch; 0 = Spark's default parallelism.")
    realtime_checkpoint_s: int = Field(
        120, ge=1, description="Real-time trigger: checkpoint interval (records still flow in milliseconds).")
    compute_relay_topic: str = Field(
        "qc.signals.relay.v1", description="Real-time mode: computed rows on their way from Spark to Redis.")

    # --- serving -------------------------------------------------------------------
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(50051, ge=0, le=65535)
    grpc_tls_cert: Path | None = None
    grpc_tls_key: Path | None = None
    grpc_token: str | None = Field(None, description="Bearer token required on every call when set.")
    grpc_max_streams: int = Field(2000, ge=1)
    client_queue_size: int = Field(256, ge=1, description="Updates buffered per client before conflating.")
    client_max_lag_s: float = Field(10.0, gt=0, description="A client this far behind is dropped.")
    grpc_shutdown_grace_s: float = Field(5.0, ge=0, description="On SIGINT/SIGTERM: time for streams to drain.")
    serve_redis_backoff_max_s: float = Field(2.0, gt=0, description="Cap of the Redis reconnect backoff (serve).")

    # --- control plane --------------------------------------------------------------
    dagster_port: int = Field(3000, ge=1, le=65535)
    heartbeat_interval_s: float = Field(2.0, gt=0)
    heartbeat_stale_s: float = Field(30.0, gt=0)
    stream_start_grace_s: float = Field(90.0, ge=0, description="A new stream run may be silent this long.")
    alert_webhook_url: str | None = None
    log_level: str = "INFO"

    # --- replay ----------------------------------------------------------------------
    replay_start_date: date = Field(date(2024, 1, 1), description="First daily partition of the replay assets (UTC).")
    delta_vacuum_retention_hours: int = Field(
        168, ge=0, description="VACUUM deletes files unreferenced for longer than this (below 168 h needs care).")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("QUANTCORE_CONFIG", "quantcore.toml"))
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file)

    @field_validator("symbols", mode="before")
    @classmethod
    def _parse_symbols(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("symbols")
    @classmethod
    def _upper_symbols(cls, value: list[str]) -> list[str]:
        symbols = [s.upper() for s in value]
        bad = [s for s in symbols if not s.isalnum()]
        if bad or not symbols:
            raise ValueError(f"symbols must be a non-empty comma-separated list of alphanumerics, got {bad or value}")
        if len(set(symbols)) != len(symbols):
            raise ValueError("symbols must not repeat")
        return symbols

    @field_validator("depth")
    @classmethod
    def _depth(cls, value: int) -> int:
        if value not in (5, 10, 20):
            raise ValueError("depth must be 5, 10 or 20 (the depths Binance streams)")
        return value

    @field_validator("kafka_security_protocol")
    @classmethod
    def _protocol(cls, value: str) -> str:
        value = value.upper()
        if value not in ("PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT"):
            raise ValueError("kafka_security_protocol must be PLAINTEXT, SSL, SASL_SSL or SASL_PLAINTEXT")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "Settings":
        if self.shards > len(self.symbols):
            raise ValueError(f"shards ({self.shards}) cannot exceed the number of symbols ({len(self.symbols)})")
        if (self.grpc_tls_cert is None) != (self.grpc_tls_key is None):
            raise ValueError("grpc_tls_cert and grpc_tls_key must be set together")
        if self.kafka_security_protocol.startswith("SASL") and not self.kafka_sasl_mechanism:
            raise ValueError("kafka_sasl_mechanism is required with a SASL security protocol")
        return self

    # --- derived locations ------------------------------------------------------------
    @cached_property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def jars_path(self) -> Path:
        return self.jars_dir.expanduser().resolve()

    @property
    def delta_root(self) -> str:
        return self.data_root or str(self.home_dir / "delta")

    @property
    def checkpoints(self) -> str:
        return self.checkpoint_root or str(self.home_dir / "checkpoints")

    @property
    def run_dir(self) -> Path:
        return self.home_dir / "run"

    @property
    def logs_dir(self) -> Path:
        return self.home_dir / "logs"

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_address(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def kafka_is_external(self) -> bool:
        return self.kafka_bootstrap is not None

    @property
    def redis_is_external(self) -> bool:
        return self.redis_url is not None

    @property
    def grpc_address(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"

    def kafka_client_config(self) -> dict[str, str]:
        """librdkafka settings shared by every producer, consumer and admin client."""
        config = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            config["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password:
            config["sasl.password"] = self.kafka_sasl_password
        if self.kafka_ca_file:
            config["ssl.ca.location"] = self.kafka_ca_file
        return config

    def spark_kafka_options(self) -> dict[str, str]:
        """The same connection for Spark's Kafka source and sink (Java client names)."""
        options = {
            "kafka.bootstrap.servers": self.bootstrap_servers,
            "kafka.security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            options["kafka.sasl.mechanism"] = self.kafka_sasl_mechanism
            module = (
                "org.apache.kafka.common.security.scram.ScramLoginModule"
                if self.kafka_sasl_mechanism.startswith("SCRAM")
                else "org.apache.kafka.common.security.plain.PlainLoginModule"
            )
            options["kafka.sasl.jaas.config"] = (
                f'{module} required username="{self.kafka_sasl_username}" password="{self.kafka_sasl_password}";'
            )
        if self.kafka_ca_file:
            options["kafka.ssl.truststore.type"] = "PEM"
            options["kafka.ssl.truststore.location"] = self.kafka_ca_file
        return options

    def as_env(self) -> dict[str, str]:
        """These settings as QUANTCORE_* variables, for child processes (one source of truth)."""
        env = {}
        for name, value in self.model_dump(exclude_none=True, mode="json").items():
            env[f"QUANTCORE_{name.upper()}"] = ",".join(value) if isinstance(value, list) else str(value)
        return env


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation errors into one readable `ConfigError`."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            env = f"QUANTCORE_{name.upper()}" if error["loc"] else "the settings"
            lines.append(f"invalid setting {name!r}: {error['msg']} (set {env} or --{name.replace('_', '-')})")
        raise ConfigError("\n".join(lines)) from None
