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
]}
