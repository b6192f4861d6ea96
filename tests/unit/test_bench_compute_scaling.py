"""The compute scaling bench's pure parts: which settings a master spec means, and how a
drain trace becomes records/s and core-µs per record."""

import pytest

from bench.scenarios.compute_scaling import drain_cost, master_overrides
from quantcore.errors import PlatformError
from quantcore.settings import TriggerMode


def test_a_local_master_runs_without_a_cluster():
    assert master_overrides("local[2]", TriggerMode.microbatch) == ({"spark_master": "local[2]", "spark_workers": 0}, 2)


def test_micro_batch_workers_offer_one_slot_each_and_real_time_workers_the_default():
    assert master_overrides("cluster:2", TriggerMode.microbatch) == ({"spark_workers": 2, "spark_worker_cores": 1}, 2)
    assert master_overrides("cluster:1", TriggerMode.realtime) == ({"spark_workers": 1, "spark_worker_cores": 0}, 1)


def test_an_unknown_master_says_what_to_write():
    with pytest.raises(PlatformError, match="local\\[N\\] or cluster:N"):
        master_overrides("yarn", TriggerMode.microbatch)


def test_the_drain_is_measured_between_ten_and_ninety_percent_of_the_backlog():
    # (time s, records written, machine busy core-s): start-up and the tail must not count
    trace = [(0.0, 0, 0.0), (5.0, 50, 9.0), (6.0, 120, 10.0), (8.0, 500, 13.0), (10.0, 920, 16.0), (30.0, 1000, 50.0)]
    cost = drain_cost(trace, 1000)
    assert cost["window_s"] == 4.0                       # 6.0 (first >= 100) to 10.0 (first >= 900)
    assert cost["records_per_s"] == 200                  # (920 - 120) / 4
    assert cost["core_us_per_record"] == 7500.0          # 6 core-s / 800 records
    assert cost["cores_busy"] == 1.5


def test_a_backlog_drained_between_two_samples_cannot_be_measured():
    with pytest.raises(RuntimeError, match="raise --set records="):
        drain_cost([(0.0, 0, 0.0), (1.0, 1000, 2.0)], 1000)
