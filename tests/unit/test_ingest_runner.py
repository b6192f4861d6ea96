"""The shard runner's children: the data plane's own shard module, given only a shard's settings."""

from __future__ import annotations

import pytest

from quantcore.settings import load_settings
from streaming.ingest.runner import ShardRunner, shard_command
from streaming.ingest.shard import main


def test_children_run_the_shard_module_with_only_the_settings_a_shard_uses(monkeypatch):
    monkeypatch.setenv("QUANTCORE_GRPC_TOKEN", "serve-only")  # the parent's shell: must not leak
    settings = load_settings(symbols="BTCUSDT,ETHUSDT,SOLUSDT", redis_password="redis-pw", shards=1)
    runner = ShardRunner(settings, shards=2)
    assert runner.shards == 2 and runner.settings.ingest.shards == 2
    assert shard_command(1, 2)[1:] == ["-m", "streaming.ingest.shard", "--shard-id", "1", "--shards", "2"]
    env = runner._env
    assert env["QUANTCORE_SHARDS"] == "2" and env["QUANTCORE_SYMBOLS"] == "BTCUSDT,ETHUSDT,SOLUSDT"
    assert env["QUANTCORE_REDIS_PASSWORD"] == "redis-pw"  # heartbeats go to Redis
    assert "QUANTCORE_GRPC_TOKEN" not in env and "QUANTCORE_GRPC_PORT" not in env
    assert env["QUANTCORE_HOME"] == str(settings.paths.home)  # the A/B leases live in its run directory
    assert env["QUANTCORE_CONFIG"] == ""


def test_a_bad_shard_id_is_refused_before_anything_starts(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--shard-id", "3", "--shards", "3"])
    assert exited.value.code == 2 and "--shard-id 3 is not in [0, 3)" in capsys.readouterr().err


def test_more_shards_than_symbols_is_one_line_not_a_traceback(capsys):
    assert main(["--shard-id", "0", "--shards", "40"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "QUANTCORE_SHARDS" in error and "Traceback" not in error
