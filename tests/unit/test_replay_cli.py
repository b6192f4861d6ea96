"""`quantcore replay` refuses unclear input before any Spark or Kafka work starts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from quantcore_platform.cli import replay_commands  # noqa: F401  (registers the commands)
from quantcore_platform.cli.apps import app
from quantcore.errors import PlatformError
from quantcore.settings import load_settings


@pytest.mark.parametrize("args", [[], ["--all", "--date", "2024-03-01"], ["--date", "2024-03-01", "--dates", "a..b"]])
def test_exactly_one_selection_is_required(args):
    result = CliRunner().invoke(app, ["replay", *args], obj=load_settings())
    assert isinstance(result.exception, PlatformError)
    assert "--all" in result.exception.fix


def test_a_bad_day_names_the_format():
    result = CliRunner().invoke(app, ["replay", "--date", "2024-02-30"], obj=load_settings())
    assert isinstance(result.exception, PlatformError)
    assert "2024-02-30" in result.exception.problem and "YYYY-MM-DD" in result.exception.fix


def test_commands_are_registered_with_help():
    result = CliRunner().invoke(app, ["replay", "--help"], obj=load_settings())
    assert result.exit_code == 0 and "--dates" in result.output and "--allow-partial" in result.output
    assert CliRunner().invoke(app, ["maintain", "--help"]).exit_code == 0
