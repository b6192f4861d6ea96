"""The analyst queries of docs/analysts.md, timed cold: each in a fresh Python process (no
warm duckdb or polars state, the Delta log read anew), over one replayed day.

    time_queries(delta_root, day)  ->  {"duckdb_daily_signals": 0.41, ...} (seconds)

The timed part is what an analyst waits for after the imports: open (duckdb: load the delta
extension), plan, read and aggregate; the page cache is warm, as on a laptop that just
wrote the tables.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date

# name -> the query as a Python statement; {root} and {day} are filled in.
QUERIES = {
    "duckdb_daily_signals": """con.sql(f"SELECT date, symbol, count(*), avg(obi_5) FROM delta_scan('{root}/book_signals') "
                                  f"WHERE invalid_reason IS NULL GROUP BY ALL ORDER BY ALL").fetchall()""",
    "duckdb_top_of_book": """con.sql(f"SELECT symbol, avg(ask_px_1 - bid_px_1), max(bid_qty_1 + bid_qty_2 + bid_qty_3) "
                                f"FROM delta_scan('{root}/books_raw') WHERE date = DATE '{day}' GROUP BY symbol").fetchall()""",
    "duckdb_depth_20": """con.sql(f"SELECT symbol, avg({depth_sum}) FROM delta_scan('{root}/books_raw') "
                             f"WHERE date = DATE '{day}' GROUP BY symbol").fetchall()""",
    "polars_daily_signals": """(pl.scan_delta(f"{root}/book_signals").filter(pl.col("invalid_reason").is_null())
                                 .group_by("date", "symbol").agg(pl.len(), pl.col("obi_5").mean()).collect())""",
    "polars_top_of_book": """(pl.scan_delta(f"{root}/books_raw").filter(pl.col("date") == date.fromisoformat(day))
                               .group_by("symbol").agg((pl.col("ask_px_1") - pl.col("bid_px_1")).mean(),
                                                        pl.col("bid_qty_1").max()).collect())""",
}

PRELUDE = """
import time
from datetime import date
import polars as pl
from quantcore.duckdb_delta import connect
root, day = {root!r}, {day!r}
depth_sum = " + ".join(f"coalesce(bid_qty_{{i}}, 0)" for i in range(1, 21))
started = time.perf_counter()
con = connect()
"""


def time_query(name: str, root: str, day: date) -> float:
    """Seconds of one query in a fresh interpreter (after its imports)."""
    code = PRELUDE.format(root=root, day=day.isoformat()) + QUERIES[name] + \
        "\nprint(time.perf_counter() - started)\n"
    if not name.startswith("duckdb"):
        code = code.replace("con = connect()\n", "")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"analyst query {name} failed:\n{done.stderr[-2000:]}")
    return round(float(done.stdout.strip().splitlines()[-1]), 3)


def time_queries(root: str, day: date) -> dict[str, float]:
    return {name: time_query(name, root, day) for name in QUERIES}
