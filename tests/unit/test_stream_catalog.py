import sys

from quantcore_platform.streams.catalog import Stream, stream_launch


def test_launch_runs_the_cli_entry_point_with_options_as_settings():
    launch = stream_launch(Stream.ingest, {"shards": 2, "symbols": ["BTCUSDT", "ETHUSDT"], "source": None,
                                           "book_mode": ""})
    assert launch.command == [sys.executable, "-m", "quantcore_platform.cli", "stream", "ingest"]
    assert launch.env == {"QUANTCORE_SHARDS": "2", "QUANTCORE_SYMBOLS": "BTCUSDT,ETHUSDT"}


def test_job_names():
    assert [s.job_name for s in Stream] == ["ingest_stream", "compute_stream", "serve_stream"]


def test_settings_travel_as_environment_and_options_win():
    from quantcore.settings import load_settings

    launch = stream_launch(Stream.serve, {"grpc_port": 7000}, load_settings(grpc_port=6000, shards=2))
    assert launch.env["QUANTCORE_GRPC_PORT"] == "7000"
    assert launch.env["QUANTCORE_SHARDS"] == "2"
