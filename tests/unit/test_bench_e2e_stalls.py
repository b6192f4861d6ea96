"""bench e2e's stall figures (pure): slow seconds and the longest silence of a client's window."""

from __future__ import annotations

from bench.scenarios.e2e import stalls


def sample(received_s: float, end_to_end_ms: float) -> dict[str, float]:
    return {"received_s": received_s, "end_to_end": end_to_end_ms}


def test_each_slow_second_is_listed_once_with_its_worst_update_and_the_longest_silence():
    window = [sample(100.0, 9.0), sample(100.5, 12.0),
              sample(102.2, 900.0), sample(102.3, 400.0), sample(102.9, 20.0),  # a pause: 1.7 s of silence
              sample(103.1, 160.0), sample(104.0, 150.0)]  # 150 is not over the limit
    figures = stalls(window, slower_than_ms=150.0)
    assert figures["slow_seconds"] == [[2, 900.0], [3, 160.0]]
    assert figures["longest_silence_ms"] == 1700.0


def test_a_quiet_window_has_no_stall():
    assert stalls([sample(5.0, 8.0), sample(5.1, 9.0)]) == {"slow_seconds": [], "longest_silence_ms": 100.0}
    assert stalls([]) == {"slow_seconds": [], "longest_silence_ms": 0.0}
