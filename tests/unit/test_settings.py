"""Settings: env prefix, TOML file, and errors that name the setting."""

import pytest

from quantcore.settings import DEFAULT_SYMBOLS, ConfigError, load_settings


def test_defaults_are_the_seed_universe():
    settings = load_settings()
    assert settings.symbols == list(DEFAULT_SYMBOLS) and len(settings.symbols) == 30
    assert settings.partitions == 30
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert not settings.kafka_is_external


def test_env_vars_with_prefix(monkeypatch):
    monkeypatch.setenv("QUANTCORE_SYMBOLS", "btcusdt, ethusdt")
    monkeypatch.setenv("QUANTCORE_SHARDS", "2")
    monkeypatch.setenv("QUANTCORE_KAFKA_BOOTSTRAP", "b-1.msk:9096")
    settings = load_settings()
    assert settings.symbols == ["BTCUSDT", "ETHUSDT"]
    assert settings.shards == 2
    assert settings.kafka_is_external and settings.bootstrap_servers == "b-1.msk:9096"


def test_toml_file(tmp_path, monkeypatch):
    config = tmp_path / "qc.toml"
    config.write_text('grpc_port = 6000\nsource = "binance"\n')
    monkeypatch.setenv("QUANTCORE_CONFIG", str(config))
    settings = load_settings()
    assert settings.grpc_port == 6000 and settings.source.value == "binance"


@pytest.mark.parametrize("env, named", [
    ({"QUANTCORE_KAFKA_PORT": "99999"}, "kafka_port"),
    ({"QUANTCORE_SOURCE": "nyse"}, "source"),
    ({"QUANTCORE_DEPTH": "7"}, "depth"),
    ({"QUANTCORE_SHARDS": "31"}, "shards"),
    ({"QUANTCORE_NO_SUCH_THING": "1"}, None),
])
def test_invalid_values_name_the_setting(monkeypatch, env, named):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if named is None:  # unknown env vars with the prefix are ignored, typos in TOML are not
        load_settings()
        return
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "invalid setting" in str(error.value)
    assert named in str(error.value) or "QUANTCORE_" in str(error.value)


def test_unknown_key_in_toml_is_an_error(tmp_path, monkeypatch):
    config = tmp_path / "qc.toml"
    config.write_text("grpc_prot = 1\n")
    monkeypatch.setenv("QUANTCORE_CONFIG", str(config))
    with pytest.raises(ConfigError, match="grpc_prot"):
        load_settings()


def test_sasl_needs_a_mechanism():
    with pytest.raises(ConfigError, match="kafka_sasl_mechanism"):
        load_settings(kafka_security_protocol="SASL_SSL")


def test_secure_kafka_options_map_to_both_clients():
    settings = load_settings(kafka_bootstrap="b:9096", kafka_security_protocol="SASL_SSL",
                             kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="u",
                             kafka_sasl_password="p")
    assert settings.kafka_client_config()["sasl.mechanism"] == "SCRAM-SHA-512"
    spark = settings.spark_kafka_options()
    assert spark["kafka.security.protocol"] == "SASL_SSL"
    assert 'ScramLoginModule required username="u" password="p"' in spark["kafka.sasl.jaas.config"]


def test_as_env_round_trips(monkeypatch):
    settings = load_settings(symbols="BTCUSDT,ETHUSDT", shards=2, grpc_port=6001)
    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    again = load_settings()
    assert again.symbols == ["BTCUSDT", "ETHUSDT"] and again.grpc_port == 6001 and again.shards == 2
