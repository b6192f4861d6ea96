"""The settings sections, one per component. Each component receives only its own
section(s); a child process gets only the variables of the sections it uses.

Every field keeps the `QUANTCORE_*` name it had when the settings were one flat object
(`env=`), so existing shells, TOML files and deployments keep working.
"""

from __future__ import annotations

import json
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from quantcore.settings.base import Section, secret_value, setting, setting_factory

REPO_ROOT = Path(__file__).resolve().parents[2]

# The seed's universe: 30 liquid USDT pairs.
DEFAULT_SYMBOLS = (
    "BTCUSDT ETHUSDT BNBUSDT SOLUSDT XRPUSDT DOGEUSDT ADAUSDT TRXUSDT AVAXUSDT LINKUSDT "
    "DOTUSDT MATICUSDT LTCUSDT BCHUSDT SHIBUSDT UNIUSDT ATOMUSDT XLMUSDT ETCUSDT FILUSDT "
    "APTUSDT ARBUSDT OPUSDT NEARUSDT ICPUSDT HBARUSDT VETUSDT INJUSDT SUIUSDT AAVEUSDT"
).split()



def restart_delay(prefix: str, initial_s: float):
    """A worker group's first restart delay (quantcore.worker_group), read from QUANTCORE_{prefix}_RESTART_BACKOFF_S."""
    return setting(initial_s, env=f"{prefix}_RESTART_BACKOFF_S", gt=0,
                   description="First delay before a dead worker process is restarted (doubles per death).")


def restart_delay_cap(prefix: str, cap_s: float = 30.0):
    return setting(cap_s, env=f"{prefix}_RESTART_BACKOFF_MAX_S", gt=0,
                   description="Cap of that delay for a worker process that keeps dying.")

class Source(str, Enum):
    simulator = "simulator"
    binance = "binance"


class BookModeSetting(str, Enum):
    partial = "partial"  # Binance @depth<N>@100ms top-N snapshots
    diff = "diff"  # local book from REST snapshot + @depth@100ms diffs


class TradeStreams(str, Enum):
    """Which Binance trade stream the shards subscribe to beside the books."""

    trade = "trade"  # <sym>@trade: one record per exchange trade
    agg_trade = "aggTrade"  # <sym>@aggTrade: the fills of one taker order at one price
    off = "off"  # books only

    @classmethod
    def _missing_(cls, value: object) -> TradeStreams | None:
        """Case-insensitive: `aggtrade` and `AGGTRADE` name Binance's `aggTrade` too."""
        lowered = str(value).lower()
        return next((member for member in cls if member.value.lower() == lowered), None)


class TriggerMode(str, Enum):
    microbatch = "microbatch"
    realtime = "realtime"


class PathsSettings(Section):
    section_name: ClassVar[str] = "paths"

    home: Path = setting(REPO_ROOT / ".quantcore", env="HOME", description="Platform home: data, logs, pids.")
    jars_dir: Path = setting(REPO_ROOT / ".quantcore" / "jars", env="JARS_DIR",
                             description="Maven-resolved jars (`make jars`).")
    data_root: str | None = setting(None, env="DATA_ROOT",
                                    description="Delta tables root: a path or s3:// URI (default: <home>/delta).")
    checkpoint_root: str | None = setting(None, env="CHECKPOINT_ROOT",
                                          description="Spark checkpoints (default: <home>/checkpoints).")

    @property
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


class KafkaSettings(Section):
    section_name: ClassVar[str] = "kafka"

    bootstrap: str | None = setting(None, env="KAFKA_BOOTSTRAP",
                                    description="External Kafka bootstrap servers; unset = local broker.")
    port: int = setting(9092, env="KAFKA_PORT", ge=1, le=65535)
    controller_port: int = setting(9093, env="KAFKA_CONTROLLER_PORT", ge=1, le=65535)
    security_protocol: str = setting("PLAINTEXT", env="KAFKA_SECURITY_PROTOCOL",
                                     description="PLAINTEXT | SSL | SASL_SSL | SASL_PLAINTEXT.")
    sasl_mechanism: str | None = setting(None, env="KAFKA_SASL_MECHANISM",
                                         description="SCRAM-SHA-512 (MSK SCRAM) or PLAIN.")
    sasl_username: str | None = setting(None, env="KAFKA_SASL_USERNAME")
    sasl_password: SecretStr | None = setting(None, env="KAFKA_SASL_PASSWORD")
    ca_file: str | None = setting(None, env="KAFKA_CA_FILE", description="CA bundle for TLS; unset = system CAs.")
    book_topic: str = setting("qc.books.v1", env="BOOK_TOPIC")
    trade_topic: str = setting("qc.trades.v1", env="TRADE_TOPIC",
                               description="Trade records, keyed by symbol (the book topic's partitions).")
    dead_letter_topic: str = setting("qc.deadletter.v1", env="DEAD_LETTER_TOPIC")
    partitions: int = setting(30, env="PARTITIONS", ge=1, le=1000)
    brokers: int = setting(1, env="KAFKA_BROKERS", ge=1, le=5,
                           description="Local KRaft nodes (broker + controller each); node n listens on "
                                       "port + 2(n-1) and controller_port + 2(n-1).")
    replication_factor: int | None = setting(None, env="REPLICATION_FACTOR", ge=1, le=5,
                                             description="Topic replicas; unset = min(3, brokers) locally, "
                                                         "the cluster's default on an external one.")
    min_insync_replicas: int | None = setting(None, env="KAFKA_MIN_INSYNC_REPLICAS", ge=1, le=5,
                                              description="Replicas that must have a record before acks=all "
                                                          "returns; unset = 2 with 3+ local replicas, else 1 "
                                                          "(an external cluster's default).")
    retention_hours: int = setting(72, env="KAFKA_RETENTION_HOURS", ge=1)
    heap: str = setting("1g", env="KAFKA_HEAP", description="Broker JVM heap (-Xmx).")
    # Kafka's defaults (3 network threads, 8 request handlers) are sized for many cores; every
    # request crosses from a network thread to a handler and back, and on 2 cores the extra
    # threads only add hand-offs (bench/README.md, "Where the standing cost goes").
    network_threads: int = setting(1, env="KAFKA_NETWORK_THREADS", ge=1, le=64,
                                   description="Local broker: num.network.threads.")
    io_threads: int = setting(2, env="KAFKA_IO_THREADS", ge=1, le=256,
                              description="Local broker: num.io.threads (request handlers).")

    @field_validator("security_protocol")
    @classmethod
    def _protocol(cls, value: str) -> str:
        value = value.upper()
        if value not in ("PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT"):
            raise ValueError("must be PLAINTEXT, SSL, SASL_SSL or SASL_PLAINTEXT")
        return value

    @model_validator(mode="after")
    def _sasl(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not self.sasl_mechanism:
            raise ValueError("kafka_sasl_mechanism (QUANTCORE_KAFKA_SASL_MECHANISM) is required "
                             "with a SASL security protocol")
        return self

    @model_validator(mode="after")
    def _replicas(self) -> KafkaSettings:
        if not self.is_external and self.topic_replication > self.brokers:
            raise ValueError(f"replication_factor {self.topic_replication} needs as many brokers: set "
                             f"QUANTCORE_KAFKA_BROKERS >= {self.topic_replication} or lower QUANTCORE_REPLICATION_FACTOR")
        if self.insync_replicas and self.topic_replication > 0 and self.insync_replicas > self.topic_replication:
            raise ValueError(f"min_insync_replicas {self.insync_replicas} exceeds the {self.topic_replication} "
                             "replicas: no write could ever succeed; lower QUANTCORE_KAFKA_MIN_INSYNC_REPLICAS")
        ports = [port for node in range(1, self.brokers + 1) for port in self.node_ports(node)]
        if len(set(ports)) != len(ports):
            raise ValueError(f"the {self.brokers} Kafka nodes' ports overlap ({sorted(ports)}): node n uses "
                             "port + 2(n-1) and controller_port + 2(n-1); set QUANTCORE_KAFKA_CONTROLLER_PORT "
                             "to QUANTCORE_KAFKA_PORT + 1")
        return self

    @property
    def topic_replication(self) -> int:
        """Replicas of the topics the platform creates; -1 = the cluster's default (MSK's)."""
        if self.replication_factor is not None:
            return self.replication_factor
        return -1 if self.is_external else min(3, self.brokers)

    @property
    def insync_replicas(self) -> int | None:
        """min.insync.replicas of the platform's topics; None = the cluster's default."""
        if self.min_insync_replicas is not None:
            return self.min_insync_replicas
        if self.replication_factor is None and self.is_external:
            return None
        return 2 if self.topic_replication >= 3 else 1

    def node_ports(self, node: int) -> tuple[int, int]:
        """(broker, controller) ports of local node `node` (1-based)."""
        return self.port + 2 * (node - 1), self.controller_port + 2 * (node - 1)

    @property
    def bootstrap_servers(self) -> str:
        if self.bootstrap:
            return self.bootstrap
        return ",".join(f"127.0.0.1:{self.node_ports(node)[0]}" for node in range(1, self.brokers + 1))

    @property
    def is_external(self) -> bool:
        return self.bootstrap is not None

    def client_config(self) -> dict[str, str]:
        """librdkafka settings shared by every producer, consumer and admin client."""
        config = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.security_protocol,
                  # after a broker outage, reconnect within a second of its return (librdkafka's
                  # default backoff grows to 10 s; Java clients' is 1 s)
                  "reconnect.backoff.max.ms": 1000}
        optional = {"sasl.mechanism": self.sasl_mechanism, "sasl.username": self.sasl_username,
                    "sasl.password": secret_value(self.sasl_password), "ssl.ca.location": self.ca_file}
        return {**config, **{name: value for name, value in optional.items() if value}}

    def spark_options(self) -> dict[str, str]:
        """The same connection for Spark's Kafka source and sink (Java client names)."""
        options = {"kafka.bootstrap.servers": self.bootstrap_servers,
                   "kafka.security.protocol": self.security_protocol}
        if self.sasl_mechanism:
            options["kafka.sasl.mechanism"] = self.sasl_mechanism
            module = ("org.apache.kafka.common.security.scram.ScramLoginModule"
                      if self.sasl_mechanism.startswith("SCRAM")
                      else "org.apache.kafka.common.security.plain.PlainLoginModule")
            options["kafka.sasl.jaas.config"] = (
                f'{module} required username="{self.sasl_username}" '
                f'password="{secret_value(self.sasl_password)}";')
        if self.ca_file:
            options["kafka.ssl.truststore.type"] = "PEM"
            options["kafka.ssl.truststore.location"] = self.ca_file
        return options


class RedisSettings(Section):
    section_name: ClassVar[str] = "redis"

    url: str | None = setting(None, env="REDIS_URL",
                              description="External Redis URL (redis:// or rediss://); unset = local.")
    port: int = setting(6379, env="REDIS_PORT", ge=1, le=65535)
    password: SecretStr | None = setting(None, env="REDIS_PASSWORD")

    @property
    def address(self) -> str:
        return self.url or f"redis://127.0.0.1:{self.port}/0"

    @property
    def is_external(self) -> bool:
        return self.url is not None


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class MarketSettings(Section):
    """What is ingested: the symbol universe, the source, the book mode and depth."""

    section_name: ClassVar[str] = "market"

    symbols: Annotated[list[str], NoDecode] = setting_factory(lambda: list(DEFAULT_SYMBOLS), env="SYMBOLS")
    source: Source = setting(Source.simulator, env="SOURCE")
    book_mode: BookModeSetting = setting(BookModeSetting.diff, env="BOOK_MODE")
    depth: int = setting(20, env="DEPTH", description="Levels per record: 5, 10 or 20.")

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


class SimulatorSettings(Section):
    section_name: ClassVar[str] = "simulator"

    host: str = setting("127.0.0.1", env="SIMULATOR_HOST", description="Where the simulator listens / shards find it.")
    port: int = setting(8765, env="SIMULATOR_PORT", ge=0, le=65535)
    rate_hz: float = setting(10.0, env="SIMULATOR_RATE_HZ", gt=0, le=10_000,
                             description="Updates per symbol per second.")
    seed: int = setting(7, env="SIMULATOR_SEED")
    ping_interval_s: float = setting(20.0, env="SIMULATOR_PING_INTERVAL_S", gt=0,
                                     description="Server pings (Binance: every 20 s).")
    levels: int = setting(100, env="SIMULATOR_LEVELS", ge=20, le=5000,
                          description="Price levels per side the simulator keeps.")
    weight_limit_per_minute: int = setting(6000, env="SIMULATOR_WEIGHT_LIMIT_PER_MINUTE", ge=1,
                                           description="REST request weight per IP per minute before HTTP 429 "
                                                       "(Binance spot: 6000).")
    tls_certfile: str | None = setting(None, env="SIMULATOR_TLS_CERTFILE",
                                       description="PEM certificate: the port then serves wss:// and https:// only "
                                                   "(clients trust it via SSL_CERT_FILE).")
    tls_keyfile: str | None = setting(None, env="SIMULATOR_TLS_KEYFILE",
                                      description="PEM key of tls_certfile (unset: the key is in the certfile).")
    replay_file: str | None = setting(None, env="SIMULATOR_REPLAY_FILE",
                                      description="Serve this recording (`quantcore record`) instead of the model.")
    replay_speed: float = setting(1.0, env="SIMULATOR_REPLAY_SPEED", gt=0, le=1000,
                                  description="Replay this many times faster than recorded.")

    @property
    def tls(self) -> bool:
        return self.tls_certfile is not None


class IngestSettings(Section):
    section_name: ClassVar[str] = "ingest"

    shards: int = setting(3, env="SHARDS", ge=1, le=64)
    binance_ws_url: str = setting("wss://stream.binance.com:9443", env="BINANCE_WS_URL")
    binance_rest_url: str = setting("https://api.binance.com", env="BINANCE_REST_URL")
    reconnect_base_s: float = setting(0.5, env="INGEST_RECONNECT_BASE_S", gt=0,
                                      description="First reconnect delay; doubles per failure, jittered.")
    reconnect_max_s: float = setting(30.0, env="INGEST_RECONNECT_MAX_S", gt=0, description="Cap of the reconnect delay.")
    max_connection_age_s: float = setting(23 * 3600.0, env="INGEST_MAX_CONNECTION_AGE_S", gt=0,
                                          description="Reconnect (with overlap) before Binance's 24 h cut-off.")
    handover_overlap_s: float = setting(2.0, env="INGEST_HANDOVER_OVERLAP_S", ge=0,
                                        description="Old and new connection overlap on a handover.")
    streams_per_connection: int = setting(1024, env="INGEST_STREAMS_PER_CONNECTION", ge=1, le=1024,
                                          description="Binance allows 1024.")
    ping_interval_s: float = setting(20.0, env="INGEST_PING_INTERVAL_S", gt=0,
                                     description="Client keepalive pings (detect a stalled server).")
    ping_timeout_s: float = setting(20.0, env="INGEST_PING_TIMEOUT_S", gt=0,
                                    description="A missing pong after this long drops the connection.")
    snapshot_limit: int = setting(1000, env="INGEST_SNAPSHOT_LIMIT", ge=5, le=5000,
                                  description="Levels of the REST snapshot (diff mode).")
    producer_queue_max: int = setting(100_000, env="INGEST_PRODUCER_QUEUE_MAX", ge=1000,
                                      description="Bounded local Kafka producer queue.")
    # 1 ms, not librdkafka's 5: measured side by side (bench e2e, 5 min each, 30 x 10 Hz), the
    # ingest -> Kafka hop's p50 fell from 6.0 to 2.0 ms and the broker's CPU did not rise
    # (0.29 vs 0.32 cores): a shard's records arrive in bursts that fill a batch within 1 ms.
    linger_ms: float = setting(1.0, env="INGEST_LINGER_MS", ge=0, le=1000, description="Producer batching delay.")
    delivery_timeout_s: float = setting(
        300.0, env="INGEST_DELIVERY_TIMEOUT_S", ge=10, le=3600,
        description="How long a record may wait in the producer queue while Kafka is unreachable; a longer "
                    "outage fails it (counted in delivery_errors; a gap in the symbol's chain in Kafka).")
    compression: str = setting("lz4", env="INGEST_COMPRESSION", pattern="^(none|gzip|snappy|lz4|zstd)$")
    twin: bool = setting(True, env="INGEST_TWIN",
                         description="A/B feeds: every symbol group is read by two shards (needs 2 or more); "
                                     "the one holding the group's lease publishes, the other takes over with no gap.")
    twin_buffer_s: float = setting(30.0, env="INGEST_TWIN_BUFFER_S", gt=0, le=600,
                                   description="A/B feeds: how long the standby keeps its records.")
    trades: TradeStreams = setting(
        TradeStreams.trade, env="INGEST_TRADES",
        description="trade | aggTrade: each shard also subscribes <sym>@trade (or @aggTrade) on its book "
                    "connections and publishes TradeRecords to the trade topic; off: books only.")
    restart_backoff_s: float = restart_delay("INGEST", 1.0)
    restart_backoff_max_s: float = restart_delay_cap("INGEST")


class SparkSettings(Section):
    section_name: ClassVar[str] = "spark"

    master: str = setting("local[2]", env="SPARK_MASTER",
                          description="local[N], spark://HOST:PORT, or empty: spark-submit's (EMR Serverless).")
    driver_memory: str = setting("2g", env="SPARK_DRIVER_MEMORY")
    ui: bool = setting(False, env="SPARK_UI", description="Serve the Spark UI (port 4040+).")
    workers: int = setting(0, env="SPARK_WORKERS", ge=0, le=16,
                           description="A local standalone cluster of a master and N workers, which the jobs "
                                       "then use; 0 = no cluster, jobs use `master`.")
    worker_cores: int = setting(0, env="SPARK_WORKER_CORES", ge=0, le=256,
                                description="Task slots each local worker offers; 0 = enough for the "
                                            "real-time compute stream, its standby and a replay.")
    worker_memory: str = setting("3g", env="SPARK_WORKER_MEMORY",
                                 description="Memory each local worker offers its executors: three apps' worth "
                                             "(the compute stream, its standby, a replay).")
    executor_memory: str = setting("1g", env="SPARK_EXECUTOR_MEMORY", description="Heap of each executor on a cluster.")
    cluster_port: int = setting(7077, env="SPARK_CLUSTER_PORT", ge=1, le=65535,
                                description="The local standalone master's port (its web UI: cluster_ui_port).")
    cluster_ui_port: int = setting(8080, env="SPARK_CLUSTER_UI_PORT", ge=1, le=65535)
    app_cores: int = setting(0, env="SPARK_APP_CORES", ge=0,
                             description="On a cluster: cores one application may take (spark.cores.max); "
                                         "0 = all free ones.")

    @property
    def local_cluster_master(self) -> str:
        return f"spark://127.0.0.1:{self.cluster_port}"

    @property
    def job_master(self) -> str:
        """The master jobs use: the local cluster's when `workers` > 0, else `master`
        (empty: the one spark-submit was given)."""
        return self.local_cluster_master if self.workers else self.master


class SignalsSettings(Section):
    """Parameters of the signal math, shared by the stream and the replay (equal by construction)."""

    section_name: ClassVar[str] = "signals"

    obi_lambda: float = setting(0.5, env="OBI_LAMBDA", ge=0, description="Decay of the depth-weighted OBI.")


class ComputeSettings(Section):
    section_name: ClassVar[str] = "compute"

    trigger_mode: TriggerMode = setting(
        TriggerMode.realtime, env="TRIGGER_MODE",
        description="realtime: ms latency, one Spark task per book partition; microbatch: more throughput.")
    trigger_interval_ms: int = setting(0, env="TRIGGER_INTERVAL_MS", ge=0,
                                       description="Micro-batch trigger; 0 = as fast as possible.")
    max_offsets_per_trigger: int = setting(200_000, env="MAX_OFFSETS_PER_TRIGGER", ge=1)
    fetch_max_wait_ms: int = setting(
        5, env="COMPUTE_FETCH_MAX_WAIT_MS", ge=0, le=500,
        description="Micro-batch: Kafka fetch.max.wait.ms of the source; low, or each read waits on a prefetch.")
    async_progress: bool = setting(
        True, env="COMPUTE_ASYNC_PROGRESS",
        description="Micro-batch: write offsets and commits off the critical path (the Redis sink is idempotent).")
    writer_tasks: int = setting(0, env="COMPUTE_WRITER_TASKS", ge=0,
                                description="Micro-batch writer tasks per batch; 0 = Spark's default parallelism.")
    realtime_checkpoint_s: int = setting(
        3600, env="REALTIME_CHECKPOINT_S", ge=1,
        description="Real-time trigger: checkpoint interval; the stream pauses ~1 s at each. Restarts do not "
                    "depend on it (they resume after the rows written to Redis).")
    trade_flow: bool = setting(True, env="COMPUTE_TRADE_FLOW",
                               description="Run the trade-flow writer beside the query (active driver only): "
                                           "trade count, VWAP and TFI over 1/10/60 s at each trade of "
                                           "kafka.trade_topic, to Redis qc:trade_flow.")
    standby: bool = setting(True, env="COMPUTE_STANDBY",
                            description="Run a second, prepared compute process that takes over the query the "
                                        "moment the first dies (costs a second Spark driver's memory).")
    restart_backoff_s: float = restart_delay("COMPUTE", 0.5)
    restart_backoff_max_s: float = restart_delay_cap("COMPUTE")


class ServeSettings(Section):
    section_name: ClassVar[str] = "serve"

    host: str = setting("127.0.0.1", env="GRPC_HOST")
    port: int = setting(50051, env="GRPC_PORT", ge=0, le=65535)
    tls_cert: Path | None = setting(None, env="GRPC_TLS_CERT")
    tls_key: Path | None = setting(None, env="GRPC_TLS_KEY")
    token: SecretStr | None = setting(None, env="GRPC_TOKEN", description="Bearer token required on every call when set.")
    max_streams: int = setting(2000, env="GRPC_MAX_STREAMS", ge=1)
    client_queue_size: int = setting(256, env="CLIENT_QUEUE_SIZE", ge=1,
                                     description="Updates buffered per client before conflating.")
    client_max_lag_s: float = setting(10.0, env="CLIENT_MAX_LAG_S", gt=0, description="A client this far behind is dropped.")
    shutdown_grace_s: float = setting(5.0, env="GRPC_SHUTDOWN_GRACE_S", ge=0,
                                      description="On SIGINT/SIGTERM: time for streams to drain.")
    redis_backoff_max_s: float = setting(2.0, env="SERVE_REDIS_BACKOFF_MAX_S", gt=0,
                                         description="Cap of the Redis reconnect backoff (serve).")
    book_lookback_s: float = setting(120.0, env="SERVE_BOOK_LOOKBACK_S", gt=0,
                                     description="At start, SubscribeBooks' snapshot is the newest book of each "
                                                 "symbol in the book topic's last this many seconds.")
    kafka_idle_stop_s: float = setting(60.0, env="SERVE_KAFKA_IDLE_STOP_S", gt=0,
                                       description="Books and trades are read from Kafka only while clients "
                                                   "subscribe to them: stop reading this long after the last one "
                                                   "left (the next one starts it again and waits for its snapshot).")
    processes: int = setting(2, env="SERVE_PROCESSES", ge=1, le=16,
                             description="gRPC server processes sharing the port (SO_REUSEPORT): when one dies, "
                                         "its clients reconnect to another.")
    restart_backoff_s: float = restart_delay("SERVE", 0.5)
    restart_backoff_max_s: float = restart_delay_cap("SERVE")

    @model_validator(mode="after")
    def _tls_pair(self) -> ServeSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("grpc_tls_cert and grpc_tls_key must be set together")
        return self

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def token_value(self) -> str | None:
        return secret_value(self.token)


class HeartbeatSettings(Section):
    section_name: ClassVar[str] = "heartbeat"

    interval_s: float = setting(2.0, env="HEARTBEAT_INTERVAL_S", gt=0)
    stale_s: float = setting(30.0, env="HEARTBEAT_STALE_S", gt=0)


class DagsterSettings(Section):
    section_name: ClassVar[str] = "dagster"

    port: int = setting(3000, env="DAGSTER_PORT", ge=1, le=65535)
    code_server_port: int = setting(4266, env="DAGSTER_CODE_SERVER_PORT", ge=1, le=65535,
                                    description="The long-running code server of the local platform.")
    stream_start_grace_s: float = setting(90.0, env="STREAM_START_GRACE_S", ge=0,
                                          description="A new stream run may be silent this long.")
    alert_webhook_url: SecretStr | None = setting(None, env="ALERT_WEBHOOK_URL",
                                                  description="Failed stream runs are posted here.")


class ReplaySettings(Section):
    section_name: ClassVar[str] = "replay"

    start_date: date = setting(date(2024, 1, 1), env="REPLAY_START_DATE",
                               description="First daily partition of the replay assets (UTC).")
    delta_vacuum_retention_hours: int = setting(
        168, env="DELTA_VACUUM_RETENTION_HOURS", ge=0,
        description="VACUUM deletes files unreferenced for longer than this (below 168 h needs care).")


class LoggingSettings(Section):
    section_name: ClassVar[str] = "logging"

    log_level: str = setting("INFO", env="LOG_LEVEL")
    log_json: bool = setting(False, env="LOG_JSON", description="JSON log lines instead of key=value.")


class SparkLauncherKind(str, Enum):
    local = "local"  # a child process of the Dagster run: python -m <job>, Spark's master from `spark`
    submit = "submit"  # spark-submit to `spark.job_master`, the code shipped as a zip
    emr = "emr"  # a job run of EMR Serverless, the code uploaded to S3


class SparkLaunchSettings(Section):
    """How Dagster launches Spark jobs (quantcore_platform/spark_launch/), and where the `emr`
    launcher submits them: the EMR Serverless application of the Terraform deployment."""

    section_name: ClassVar[str] = "spark_launch"

    launcher: SparkLauncherKind = setting(
        SparkLauncherKind.local, env="SPARK_LAUNCHER",
        description="local: a child process; submit: spark-submit to the Spark master; emr: EMR Serverless.")
    emr_application_id: str | None = setting(None, env="EMR_APPLICATION_ID",
                                             description="EMR Serverless application (Terraform: emr_application_id).")
    emr_execution_role_arn: str | None = setting(None, env="EMR_EXECUTION_ROLE_ARN",
                                                 description="Runtime role of the job runs.")
    emr_release_label: str | None = setting(None, env="EMR_RELEASE_LABEL",
                                            description="The application's EMR release, checked before a run.")
    emr_job_code_uri: str | None = setting(None, env="EMR_JOB_CODE_URI",
                                           description="s3:// prefix the launcher uploads job code and jars to.")
    emr_job_configuration: str = setting(
        "{}", env="EMR_JOB_CONFIGURATION",
        description="StartJobRun's configurationOverrides as JSON (Terraform: emr_job_configuration).")
    aws_region: str | None = setting(None, env="AWS_REGION", description="Unset: boto3's (AWS_DEFAULT_REGION...).")
    aws_endpoint_url: str | None = setting(None, env="AWS_ENDPOINT_URL",
                                           description="Another endpoint for the AWS APIs (a simulator); unset: AWS.")

    @field_validator("emr_job_code_uri")
    @classmethod
    def _code_uri(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("s3://") and value.removeprefix("s3://").split("/")[0]):
            raise ValueError(f"{value!r} is not an s3:// URI (e.g. s3://my-artifacts/jobs/)")
        return value

    @field_validator("emr_job_configuration")
    @classmethod
    def _job_configuration(cls, value: str) -> str:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc})") from None
        if not isinstance(parsed, dict) or set(parsed) - {"applicationConfiguration", "monitoringConfiguration"}:
            raise ValueError("must be a JSON object of applicationConfiguration and/or monitoringConfiguration "
                             "(StartJobRun's configurationOverrides, e.g. Terraform's emr_job_configuration output)")
        return value

    @model_validator(mode="after")
    def _emr_needs_its_application(self) -> SparkLaunchSettings:
        required = ("emr_application_id", "emr_execution_role_arn", "emr_job_code_uri")
        missing = [self.env_of(name) for name in required if not getattr(self, name)]
        if self.launcher is SparkLauncherKind.emr and missing:
            raise ValueError(f"QUANTCORE_SPARK_LAUNCHER=emr needs {', '.join(missing)}: set them from the Terraform "
                             "outputs (terraform/README.md), or set QUANTCORE_SPARK_LAUNCHER=local or submit")
        return self

    @property
    def job_configuration(self) -> dict[str, Any]:
        return json.loads(self.emr_job_configuration)


SECTIONS: tuple[type[Section], ...] = (
    PathsSettings, KafkaSettings, RedisSettings, MarketSettings, SimulatorSettings, IngestSettings,
    SparkSettings, SignalsSettings, ComputeSettings, ServeSettings, HeartbeatSettings, DagsterSettings,
    ReplaySettings, LoggingSettings, SparkLaunchSettings,
)
