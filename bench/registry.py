"""The benchmark scenarios: what each needs running, and where its measure function lives."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Scenario:
    name: str
    services: tuple[str, ...]
    target: str  # "module:function", called with a BenchContext, returning figures
    summary: str

    def load(self) -> Callable[[Any], dict]:
        module, function = self.target.split(":")
        return getattr(importlib.import_module(module), function)


SCENARIOS = {s.name: s for s in [
    Scenario("e2e", ("kafka", "redis"), "bench.scenarios.e2e:run",
             "simulator -> ingest -> Kafka -> Spark -> Redis -> gRPC client, latency per hop"),
    Scenario("ingest", ("kafka", "redis"), "bench.scenarios.ingest:run",
             "frames/s one shard sustains; ingest -> Kafka ack latency"),
    Scenario("compute", ("kafka", "redis"), "bench.scenarios.compute:run",
             "Kafka append -> Redis publish latency and records/s, per trigger mode"),
    Scenario("fanout", ("redis",), "bench.scenarios.fanout:run",
             "Redis publish -> gRPC client latency and delivery vs subscriber count"),
    Scenario("relay", ("redis",), "bench.scenarios.relay_writer:run",
             "the real-time Redis writer (row_socket.py), CPU per row: chaining from what it wrote vs reading it back"),
    Scenario("replay", ("kafka",), "bench.scenarios.replay:run",
             "records/s from Kafka into Delta, bytes on disk per million records"),
    Scenario("simulator", (), "bench.scenarios.simulator:run",
             "market model micro events/s per core and CPU for symbols x rate_hz steps (no services)"),
    Scenario("ofi", (), "bench.scenarios.ofi_regression:run",
             "mid change ~ level-1 vs 10-level OFI (Xu, Gould & Howison 2019) on an hour of simulated market, R² in/out of sample (no services)"),
    Scenario("cost", (), "bench.scenarios.cost:run",
             "the whole platform (`quantcore up`) at 1x and 10x the load: cores and memory per component"),
    Scenario("baseline", ("kafka", "redis"), "bench.scenarios.baseline:run",
             "the seed's designs vs ours in one run, as ratios"),
]}
