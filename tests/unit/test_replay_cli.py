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


def test_the_result_table_shows_the_trades_and_why_they_are_missing(capsys):
    from streaming.spark.replay_job import ReplayResult

    result = ReplayResult(topic="books", days=["2024-03-01"], written_days=["2024-03-01"], skipped_days=[],
                          rows={}, rows_by_day={"books_raw": {"2024-03-01": 5}, "book_signals": {"2024-03-01": 4},
                                                "books_quarantine": {"2024-03-01": 1}},
                          kafka_records={"2024-03-01": 6}, offsets=[], records_read=6, quarantined=1,
                          trades={"rows_by_day": {"trades": {"2024-03-01": 7}, "trades_quarantine": {"2024-03-01": 2}}})
    replay_commands._print_result(result)
    printed = capsys.readouterr().out
    (row,) = [line for line in printed.splitlines() if "2024-03-01" in line]
    assert row.replace("│", " ").split() == ["2024-03-01", "6", "5", "4", "1", "7", "2"]
    result.trades = {"status": "no trade topic", "note": "trade topic 'qc.trades.v1' does not exist: books only"}
    replay_commands._print_result(result)
    assert "does not exist" in capsys.readouterr().err, "said on stderr, like the other notes"
