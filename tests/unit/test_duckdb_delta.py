"""duckdb reads Delta tables with `delta_scan` from the extension shipped on PyPI, offline."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import re
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from quantcore import duckdb_delta
from quantcore.duckdb_delta import connect
from quantcore.errors import PlatformError

DAY1, DAY2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)

# (date, symbol, ts, px DECIMAL(18,8), notional DECIMAL(28,8)): extremes of both precisions.
ROWS = [
    (DAY1, "BTCUSDT", 1, Decimal("96000.12345678"), Decimal("12345678901234567890.12345678")),
    (DAY1, "ETHUSDT", 2, Decimal("3300.00000001"), Decimal("0.00000001")),
    (DAY2, "BTCUSDT", 3, Decimal("-0.00000001"), Decimal("-99999999999999999999.99999999")),
    (DAY2, "ETHUSDT", 4, Decimal("9999999999.99999999"), None),
    (DAY2, "SOLUSDT", 5, Decimal("0.10000000"), Decimal("99999999999999999999.99999998")),
]


@pytest.fixture
def table(tmp_path):
    columns = list(zip(*ROWS))
    data = pa.table({
        "date": pa.array(columns[0], pa.date32()),
        "symbol": pa.array(columns[1], pa.string()),
        "ts": pa.array(columns[2], pa.int64()),
        "px": pa.array(columns[3], pa.decimal128(18, 8)),
        "notional": pa.array(columns[4], pa.decimal128(28, 8)),
    })
    path = tmp_path / "trades"
    write_deltalake(str(path), data, partition_by=["date"])
    return path


def test_delta_scan_returns_exact_rows_of_one_partition(table):
    con = connect()
    loaded = con.sql("SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'delta'").fetchone()
    assert loaded == (True,)
    assert con.sql("SELECT current_setting('autoinstall_known_extensions')").fetchone() == (False,)

    result = con.execute(
        f"SELECT date, symbol, ts, px, notional FROM delta_scan('{table}') WHERE date = ? ORDER BY ts", [DAY2]
    )
    assert [column[1] for column in result.description][3:] == ["DECIMAL(18,8)", "DECIMAL(28,8)"]
    rows = result.fetchall()
    assert rows == [row for row in ROWS if row[0] == DAY2]
    assert all(type(value) is Decimal for row in rows for value in row[3:] if value is not None)

    total = con.sql(f"SELECT sum(notional), sum(px) FROM delta_scan('{table}') WHERE date = DATE '{DAY2}'").fetchone()
    assert total == (Decimal("-0.00000001"), Decimal("10000000000.09999998"))
    assert con.sql(f"SELECT count(*) FROM delta_scan('{table}')").fetchone() == (len(ROWS),)


def test_partition_filter_skips_the_other_days_files(table):
    # Wreck every data file of DAY1: a scan that opens one fails, so DAY2 reads only its own.
    for data_file in (table / f"date={DAY1}").glob("*.parquet"):
        data_file.write_bytes(b"not parquet")
    con = connect()
    assert con.sql(f"SELECT ts FROM delta_scan('{table}') WHERE date = DATE '{DAY2}' ORDER BY ts").fetchall() == [
        (3,), (4,), (5,)
    ]
    with pytest.raises(duckdb.Error):
        con.sql(f"SELECT count(*) FROM delta_scan('{table}')").fetchall()


def test_a_bare_duckdb_cannot_read_delta_offline(table, tmp_path):
    # What `connect` adds: without it duckdb has no delta_scan (and no internet to fetch it from).
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    con.execute("SET extension_directory = ?", [str(tmp_path / "no-extensions")])
    with pytest.raises(duckdb.Error, match="delta"):
        con.sql(f"SELECT * FROM delta_scan('{table}')").fetchall()


def test_a_missing_package_says_what_to_install(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(duckdb_delta.importlib.metadata, "distribution", not_installed)
    hint = f"pip install 'duckdb-ext-delta=={duckdb.__version__}.*'"
    with pytest.raises(PlatformError, match=re.escape(hint)) as error:
        connect()
    assert "delta_scan" in error.value.problem


def test_a_package_for_another_duckdb_is_refused_clearly(monkeypatch):
    real = importlib.metadata.distribution(duckdb_delta.PACKAGE)

    class OtherBuild:
        version = "9.9.9.20990101"
        files = [importlib.metadata.PackagePath("duckdb_ext/extensions/v9.9.9/linux_amd64/delta.duckdb_extension")]
        locate_file = real.locate_file

    monkeypatch.setattr(duckdb_delta.importlib.metadata, "distribution", lambda name: OtherBuild)
    mismatch = f"for v9.9.9/linux_amd64, but this is duckdb v{duckdb.__version__}"
    with pytest.raises(PlatformError, match=re.escape(mismatch)):
        connect()
