"""bench/scenarios/compute.py's drain figures from a trace of (time, records written)."""

from __future__ import annotations

import pytest

from bench.scenarios.compute import drain_figures, rising_loads


def test_the_drain_rate_is_taken_between_a_tenth_and_nine_tenths_and_per_tenth():
    # 1,000 records: nothing for 5 s (startup), then 100 records/s up to 200, 1,000/s after
    trace = [(t, 0) for t in range(6)]
    trace += [(5 + k, 100 * k) for k in range(1, 3)]          # 100 at 6 s, 200 at 7 s
    trace += [(7 + k / 10, 200 + 100 * k) for k in range(1, 9)]  # +100 every 0.1 s: 1,000 at 7.8 s
    figures = drain_figures(trace, 1_000, started=0.0)
    assert figures["records_per_s_by_tenth"] == [0, 100, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]
    assert figures["records_per_s"] == round(800 / (7.7 - 6))  # 100 at 6 s to 900 at 7.7 s
    assert figures["first_publish_s"] == 6.0 and figures["drained"] is True


def test_a_drain_that_stops_short_reports_no_rate_past_where_it_stopped():
    trace = [(0.0, 0), (1.0, 50), (2.0, 150), (3.0, 250), (4.0, 250)]
    figures = drain_figures(trace, 1_000, started=0.0)
    assert figures["drained"] is False and figures["records_per_s"] == 0
    assert figures["records_per_s_by_tenth"] == [100, 100] + [0] * 8


def test_rising_loads_are_read_from_the_option_and_a_bad_one_says_how_to_write_it():
    assert rising_loads("1000,5000, 7500") == (1000.0, 5000.0, 7500.0)
    assert rising_loads(3000) == (3000.0,), "a single number arrives as an int"
    for bad in ("fast", "1000,-5", ""):
        with pytest.raises(ValueError, match="separated by commas, e.g. loads=1000,5000,7500"):
            rising_loads(bad)
