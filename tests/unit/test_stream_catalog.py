import sys

import pytest

from quantcore.settings import SECTIONS, ConfigError, load_settings
from quantcore_platform.streams.catalog import Stream, stream_launch


def section_variables(*names: str) -> set[str]:
    return {env for section in SECTIONS if section.section_name in names for env in section.fields_by_env()}


def test_launch_runs_the_cli_entry_point_with_options_as_settings(tmp_path):
    settings = load_settings(home=tmp_path)
    launch = stream_launch(Stream.ingest, {"shards": 2, "symbols": ["BTCUSDT", "ETHUSDT"], "source": None,
                                           "book_mode": ""}, settings)
    assert launch.command == [sys.executable, "-m", "quantcore_platform.cli", "--home", str(tmp_path.resolve()),
                              "stream", "ingest"]
    assert launch.env["QUANTCORE_SHARDS"] == "2" and launch.env["QUANTCORE_SYMBOLS"] == "BTCUSDT,ETHUSDT"
    assert launch.env["QUANTCORE_SOURCE"] == "simulator" and launch.env["QUANTCORE_BOOK_MODE"] == "diff"


def test_job_names():
    assert [s.job_name for s in Stream] == ["ingest_stream", "compute_stream", "serve_stream"]


def test_settings_travel_as_environment_and_options_win():
    launch = stream_launch(Stream.serve, {"grpc_port": 7000}, load_settings(grpc_port=6000, shards=2))
    assert launch.env["QUANTCORE_GRPC_PORT"] == "7000"
    assert "QUANTCORE_SHARDS" not in launch.env, "serve gets only the sections it reads"


def test_a_bad_option_names_the_setting():
    with pytest.raises(ConfigError, match="QUANTCORE_GRPC_PORT"):
        stream_launch(Stream.serve, {"grpc_port": 70000}, load_settings())


@pytest.mark.parametrize("stream", list(Stream))
def test_each_stream_gets_exactly_its_sections(stream):
    env = stream_launch(stream, {}, load_settings())
    settings_vars = {name for name in env.env if name.startswith("QUANTCORE_")} - {"QUANTCORE_CONFIG"}
    assert settings_vars <= section_variables(*stream.sections, "logging")
    assert section_variables("logging") <= settings_vars
