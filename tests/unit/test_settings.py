"""Settings in sections: the flat QUANTCORE_* names, the TOML file, errors that name the
setting and its variable, secrets that stay hidden, and child processes that get only the
sections they use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from quantcore.settings import DEFAULT_SYMBOLS, ConfigError, Settings, TradeStreams, load_settings, reveal

REPO = Path(__file__).resolve().parents[2]


# --- sources ------------------------------------------------------------------------------------
def test_defaults_are_the_seed_universe():
    settings = load_settings()
    assert settings.market.symbols == list(DEFAULT_SYMBOLS) and len(settings.market.symbols) == 30
    assert settings.kafka.partitions == 30
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert not settings.kafka.is_external


def test_flat_env_names_still_work(monkeypatch):
    monkeypatch.setenv("QUANTCORE_SYMBOLS", "btcusdt, ethusdt")
    monkeypatch.setenv("QUANTCORE_SHARDS", "2")
    monkeypatch.setenv("QUANTCORE_KAFKA_BOOTSTRAP", "b-1.msk:9096")
    monkeypatch.setenv("QUANTCORE_GRPC_PORT", "6001")
    settings = load_settings()
    assert settings.market.symbols == ["BTCUSDT", "ETHUSDT"]
    assert settings.ingest.shards == 2
    assert settings.kafka.is_external and settings.kafka.bootstrap_servers == "b-1.msk:9096"
    assert settings.serve.port == 6001


def test_toml_file_with_flat_names_and_section_tables(tmp_path, monkeypatch):
    config = tmp_path / "qc.toml"
    config.write_text(textwrap.dedent("""\
        grpc_port = 6000
        source = "binance"

        [kafka]
        port = 9999
        book_topic = "qc.books.test"

        [serve]
        host = "0.0.0.0"
        """))
    monkeypatch.setenv("QUANTCORE_CONFIG", str(config))
    monkeypatch.setenv("QUANTCORE_KAFKA_PORT", "9100")  # the environment beats the file
    settings = load_settings()
    assert settings.serve.port == 6000 and settings.serve.host == "0.0.0.0"
    assert settings.market.source.value == "binance"
    assert settings.kafka.port == 9100 and settings.kafka.book_topic == "qc.books.test"


@pytest.mark.parametrize("text, named", [
    ("grpc_prot = 1\n", "grpc_prot"),
    ("[kafak]\nport = 1\n", "[kafak]"),
    ("[kafka]\nprot = 1\n", "kafka.prot"),
])
def test_unknown_keys_in_toml_are_errors(tmp_path, monkeypatch, text, named):
    config = tmp_path / "qc.toml"
    config.write_text(text)
    monkeypatch.setenv("QUANTCORE_CONFIG", str(config))
    with pytest.raises(ConfigError) as error:
        load_settings().validate()
    assert named in str(error.value)


def test_unknown_env_vars_with_the_prefix_are_ignored(monkeypatch):
    monkeypatch.setenv("QUANTCORE_NO_SUCH_THING", "1")
    load_settings().validate()


# --- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("env, setting, variable", [
    ({"QUANTCORE_KAFKA_PORT": "99999"}, "kafka.port", "QUANTCORE_KAFKA_PORT"),
    ({"QUANTCORE_SOURCE": "nyse"}, "market.source", "QUANTCORE_SOURCE"),
    ({"QUANTCORE_DEPTH": "7"}, "market.depth", "QUANTCORE_DEPTH"),
    ({"QUANTCORE_SHARDS": "31"}, "ingest.shards", "QUANTCORE_SHARDS"),
    ({"QUANTCORE_GRPC_PORT": "notaport"}, "serve.port", "QUANTCORE_GRPC_PORT"),
    ({"QUANTCORE_REPLAY_START_DATE": "garbage"}, "replay.start_date", "QUANTCORE_REPLAY_START_DATE"),
    ({"QUANTCORE_INGEST_TRADES": "ticks"}, "ingest.trades", "QUANTCORE_INGEST_TRADES"),
])
def test_invalid_values_name_the_setting_and_its_variable(monkeypatch, env, setting, variable):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()  # sections load when used: nothing fails yet
    section = setting.split(".")[0]
    with pytest.raises(ConfigError) as error:
        getattr(settings, section)
    message = str(error.value)
    assert f"invalid setting {setting}" in message and variable in message
    others = [name for name in ("paths", "redis", "heartbeat", "logging") if name != section]
    settings.validate(*others)  # the other sections are fine


def test_trades_default_to_binance_trade_stream_and_name_it_in_any_case(monkeypatch):
    settings = load_settings()
    assert settings.ingest.trades is TradeStreams.trade and settings.kafka.trade_topic == "qc.trades.v1"
    monkeypatch.setenv("QUANTCORE_INGEST_TRADES", "AGGTRADE")
    monkeypatch.setenv("QUANTCORE_TRADE_TOPIC", "qc.trades.test")
    settings = load_settings()
    assert settings.ingest.trades is TradeStreams.agg_trade and settings.kafka.trade_topic == "qc.trades.test"
    assert settings.ingest.env()["QUANTCORE_INGEST_TRADES"] == "aggTrade"  # Binance's spelling for the children
    assert settings.override(ingest_trades="off").ingest.trades is TradeStreams.off


def test_sasl_needs_a_mechanism():
    with pytest.raises(ConfigError, match="kafka_sasl_mechanism"):
        load_settings(kafka_security_protocol="SASL_SSL").kafka


def test_secure_kafka_options_map_to_both_clients():
    kafka = load_settings(kafka_bootstrap="b:9096", kafka_security_protocol="SASL_SSL",
                          kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="u",
                          kafka_sasl_password="p").kafka
    assert kafka.client_config()["sasl.mechanism"] == "SCRAM-SHA-512"
    assert kafka.client_config()["sasl.password"] == "p"
    spark = kafka.spark_options()
    assert spark["kafka.security.protocol"] == "SASL_SSL"
    assert 'ScramLoginModule required username="u" password="p"' in spark["kafka.sasl.jaas.config"]


# --- secrets ---------------------------------------------------------------------------------------
def test_secrets_are_not_shown_in_repr():
    settings = load_settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="PLAIN",
                             kafka_sasl_password="kafka-secret", redis_password="redis-secret",
                             grpc_token="grpc-secret", alert_webhook_url="https://hooks.example/secret")
    shown = " ".join(f"{section!r} {section}" for section in
                     (settings.kafka, settings.redis, settings.serve, settings.dagster))
    for secret in ("kafka-secret", "redis-secret", "grpc-secret", "hooks.example"):
        assert secret not in shown
    assert reveal(settings.redis.password) == "redis-secret" and settings.serve.token_value == "grpc-secret"
    assert reveal(None) is None


# --- overrides -------------------------------------------------------------------------------------
def test_override_by_flat_name_or_section_is_validated():
    settings = load_settings(grpc_port=6000)
    changed = settings.override(grpc_port=6001, shards=2, grpc_host=None)
    assert (changed.serve.port, changed.serve.host, changed.ingest.shards) == (6001, "127.0.0.1", 2)
    assert settings.serve.port == 6000, "override returns a new Settings"
    assert settings.override(serve={"port": 6002}).serve.port == 6002
    with pytest.raises(ConfigError, match="QUANTCORE_GRPC_PORT"):
        settings.override(grpc_port=70000).validate("serve")
    with pytest.raises(ConfigError, match="grpc_prot"):
        settings.override(grpc_prot=1)
    assert settings.serve.with_overrides(port=6003).port == 6003
    with pytest.raises(ConfigError, match="QUANTCORE_GRPC_PORT"):
        settings.serve.with_overrides(port=-1)


# --- child processes -------------------------------------------------------------------------------
SECRETS = {
    "QUANTCORE_REDIS_PASSWORD": "redis-secret",
    "QUANTCORE_KAFKA_SASL_PASSWORD": "kafka-secret",
    "QUANTCORE_GRPC_TOKEN": "grpc-secret",
    "QUANTCORE_ALERT_WEBHOOK_URL": "https://hooks.example/webhook-secret",
}


@pytest.fixture
def secret_parent(monkeypatch, tmp_path) -> Settings:
    """A parent process holding every secret (as the Dagster processes under `quantcore up`)."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("QUANTCORE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("QUANTCORE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("QUANTCORE_KAFKA_SASL_USERNAME", "ingest")
    return load_settings(home=tmp_path / "home")


def secrets_in(env: dict[str, str]) -> set[str]:
    """The secret variables whose value appears anywhere in `env`."""
    return {name for name, value in SECRETS.items() if any(value in v for v in env.values())}


def test_child_env_carries_only_the_named_sections(secret_parent, monkeypatch):
    monkeypatch.setenv("QC_TEST_UNRELATED", "kept")
    env = secret_parent.child_env("market")
    assert env["QC_TEST_UNRELATED"] == "kept", "the rest of the parent's environment is kept"
    assert env["QUANTCORE_CONFIG"] == "", "no settings file: the values travel explicitly"
    assert {"QUANTCORE_SYMBOLS", "QUANTCORE_SOURCE", "QUANTCORE_LOG_LEVEL"} <= set(env)
    assert "QUANTCORE_KAFKA_SECURITY_PROTOCOL" not in env and "QUANTCORE_GRPC_PORT" not in env
    assert secrets_in(env) == set()
    assert secrets_in(secret_parent.child_env("serve")) == {"QUANTCORE_GRPC_TOKEN"}


def test_child_env_round_trips(monkeypatch):
    settings = load_settings(symbols="BTCUSDT,ETHUSDT", shards=2, grpc_port=6001, grpc_token="t")
    for key in [k for k in os.environ if k.startswith("QUANTCORE_")]:
        monkeypatch.delenv(key)
    for key, value in settings.child_env("market", "ingest", "serve").items():
        monkeypatch.setenv(key, value)
    again = load_settings()
    assert again.market.symbols == ["BTCUSDT", "ETHUSDT"] and again.ingest.shards == 2
    assert again.serve.port == 6001 and again.serve.token_value == "t"


def test_every_child_gets_only_the_secrets_it_uses(secret_parent, monkeypatch):
    from quantcore_platform.replay_assets import REPLAY_JOB
    from quantcore_platform.spark_launch.local import LocalLauncher, job_client
    from quantcore_platform.services import dagster_services, platform, simulator_service
    from quantcore_platform.services.process import ManagedProcess
    from quantcore_platform.streams.catalog import Stream, stream_launch

    started: dict[str, dict[str, str]] = {}
    monkeypatch.setattr(ManagedProcess, "start", lambda self, command, *, port, env=None, cwd=None:
                        started.setdefault(self.name, env))
    for module in (dagster_services, simulator_service):
        monkeypatch.setattr(module, "wait_until", lambda *args, **kwargs: None)
    simulator_service.SimulatorService.from_settings(secret_parent).start()
    dagster_services.DagsterCodeServer(secret_parent).start()
    dagster_services.DagsterWebserver(secret_parent).start()
    dagster_services.DagsterDaemon(secret_parent).start()
    platform.start_supervisor(secret_parent)

    redis, kafka, token = "QUANTCORE_REDIS_PASSWORD", "QUANTCORE_KAFKA_SASL_PASSWORD", "QUANTCORE_GRPC_TOKEN"
    # serve reads the book and trade topics for SubscribeBooks / SubscribeTrades
    assert secrets_in(stream_launch(Stream.serve, {}, secret_parent).env) == {kafka, redis, token}
    assert secrets_in(stream_launch(Stream.ingest, {}, secret_parent).env) == {kafka, redis}
    assert secrets_in(stream_launch(Stream.compute, {}, secret_parent).env) == {kafka, redis}
    assert secrets_in(started["simulator"]) == set()
    assert secrets_in(started["dagster-webserver"]) == set(SECRETS), "Dagster launches every stream"
    assert secrets_in(started["dagster-daemon"]) == set(SECRETS)
    assert secrets_in(started["dagster-code-server"]) == set(SECRETS), "runs are launched from the code server"
    assert secrets_in(started["supervisor"]) == set(SECRETS), "it restarts every service"

    # The replay job, as Dagster Pipes starts it: its env merged over this process's environment.
    client = job_client(secret_parent, REPLAY_JOB)
    dump = [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"]
    command = LocalLauncher.command(REPLAY_JOB.with_args("--maintain"))
    assert client.isolated(command)[-len(command):] == command
    seen = subprocess.run(client.isolated(dump), env={**os.environ, **client.env}, capture_output=True, text=True,
                          check=True)
    replay_env = json.loads(seen.stdout)
    assert secrets_in(replay_env) == {kafka}
    assert replay_env["QUANTCORE_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"


def test_a_given_env_is_the_whole_environment_of_a_stream_process(secret_parent):
    from quantcore_platform.streams.catalog import StreamLaunch
    from quantcore_platform.streams.supervisor import StreamProcess

    lines: list[str] = []
    code = "import os; print(sorted(k for k in os.environ if k.startswith('QUANTCORE_')))"
    process = StreamProcess(StreamLaunch([sys.executable, "-c", code], secret_parent.child_env("market")),
                            on_line=lines.append)
    process.start()
    assert process.wait(lambda: None, 1.0) == 0
    names = eval(lines[0])  # noqa: S307 - our own child's printed list
    assert "QUANTCORE_SYMBOLS" in names and not set(SECRETS) & set(names)


# --- a bad setting fails what uses it, not the code location ------------------------------------
LOAD_CODE_LOCATION = """
from dagster import DagsterInstance, materialize

import quantcore_platform.definitions  # the code location loads
from quantcore_platform.replay_assets import replay_books
from quantcore_platform.resources import QuantcoreSettingsResource
from quantcore_platform.stream_jobs import serve_stream

resources = {"quantcore": QuantcoreSettingsResource()}
serve = serve_stream.execute_in_process(resources=resources, raise_on_error=False)
print("<serve>", serve.success, serve.failure_data_for_node("run_serve_stream").error.to_string())
replay = materialize([replay_books], partition_key="2024-03-01", resources=resources,
                     instance=DagsterInstance.ephemeral(), raise_on_error=False)
print("<replay>", replay.success, [e.step_failure_data.error.to_string() for e in replay.get_step_failure_events()])
"""


def test_a_bad_setting_fails_its_job_not_the_dagster_code_location(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("QUANTCORE_")},
           "QUANTCORE_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path),
           "QUANTCORE_GRPC_PORT": "notaport", "QUANTCORE_REPLAY_START_DATE": "garbage"}
    result = subprocess.run([sys.executable, "-c", LOAD_CODE_LOCATION], env=env, cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    serve, replay = result.stdout[result.stdout.index("<serve>"):].split("<replay>")
    assert serve.startswith("<serve> False") and "invalid setting serve.port (QUANTCORE_GRPC_PORT)" in serve
    assert replay.startswith(" False") and "invalid setting replay.start_date (QUANTCORE_REPLAY_START_DATE)" in replay


def test_dagster_resource_reads_its_toml_file_for_every_section(tmp_path, monkeypatch):
    from quantcore_platform.resources import QuantcoreSettingsResource

    config = tmp_path / "dagster.toml"
    config.write_text('book_topic = "qc.books.dagster"\n[serve]\nport = 6100\n')
    monkeypatch.setenv("QUANTCORE_GRPC_TOKEN", "grpc-secret")
    settings = QuantcoreSettingsResource(home=str(tmp_path), config_file=str(config)).settings()
    assert "QUANTCORE_CONFIG" not in os.environ, "the file is in force only while the settings load"
    later = settings.override(shards=2)  # a new Settings (as stream_launch builds): still the file's values
    assert later.kafka.book_topic == "qc.books.dagster" and later.serve.port == 6100 and later.ingest.shards == 2
    assert later.serve.token_value == "grpc-secret" and later.paths.home_dir == tmp_path.resolve()
    assert later.child_env("serve")["QUANTCORE_GRPC_PORT"] == "6100"
