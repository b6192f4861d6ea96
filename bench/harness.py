"""The benchmark harness: one temporary platform per scenario, figures saved as JSON.

`quantcore bench SCENARIO` builds a throwaway platform home with free ports, starts the
real services the scenario needs (Kafka, Redis, Spark, ...), runs the scenario's measure
function, tears everything down, prints a table and writes
`bench/results/SCENARIO.json` (machine, versions, settings, command, every figure) plus
the scenario's PNG plots. `--smoke` runs each scenario for seconds: CI uses it to prove
the harness works (figures exist and are sane), never to judge speed.
"""

from __future__ import annotations

import json
import os
import platform as host
import shlex
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from quantcore.topics import ensure_topics
from quantcore_platform.services.kafka_broker import KafkaBroker
from quantcore_platform.services.process import free_port, free_port_block
from quantcore_platform.services.redis_server import RedisServer
from quantcore.settings import FLAT_NAMES, Settings, load_settings

RESULTS_DIR = Path(__file__).resolve().parent / "results"
console = Console(stderr=True, soft_wrap=True, highlight=False)


@dataclass
class BenchContext:
    """What a scenario gets: settings of its private platform, a place for plots, options."""

    settings: Settings
    smoke: bool
    options: dict[str, Any]
    plots_dir: Path
    progress: Callable[[str], None]
    plots: list[str] = field(default_factory=list)

    def option(self, name: str, default: Any, smoke_default: Any = None) -> Any:
        if self.options.get(name) is not None:
            return self.options[name]
        return smoke_default if self.smoke and smoke_default is not None else default

    def plot_path(self, name: str) -> Path:
        self.plots_dir.mkdir(parents=True, exist_ok=True)
        path = self.plots_dir / name
        self.plots.append(str(path.relative_to(RESULTS_DIR.parent)))
        return path


def percentiles(values: Sequence[float], digits: int | None = None) -> dict[str, float]:
    """count, p50/p90/p99/p99.9 (nearest rank: the smallest value with at least q of the
    sample at or below it), max and mean; every scenario reports with this one method, so
    their figures compare. Empty samples give zeros and count 0."""
    if len(values) == 0:
        return {"count": 0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "p99_9": 0.0, "max": 0.0, "mean": 0.0}
    ordered = sorted(float(v) for v in values)

    def at(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    figures = {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "p99_9": at(0.999), "max": ordered[-1],
               "mean": statistics.fmean(ordered)}
    if digits is not None:
        figures = {name: round(value, digits) for name, value in figures.items()}
    return {"count": len(ordered), **figures}


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator to 2 decimals (inf when the denominator is 0)."""
    return round(numerator / denominator, 2) if denominator else float("inf")


@contextmanager
def temporary_platform(services: Sequence[str], **overrides: Any) -> Iterator[Settings]:
    """A private platform home with free ports, running `services` (kafka, redis)."""
    with tempfile.TemporaryDirectory(prefix="qc-bench-") as home, ExitStack() as stack:
        ports = {name: free_port() for name in ("kafka_port", "kafka_controller_port", "redis_port",
                                                "grpc_port", "simulator_port", "dagster_port",
                                                "dagster_code_server_port")}
        # a Spark standalone cluster's master and workers number their ports from these
        ports |= {"spark_cluster_port": free_port_block(9), "spark_cluster_ui_port": free_port_block(9)}
        settings = load_settings(home=Path(home), **{**ports, **overrides})
        if "kafka" in services:
            broker = KafkaBroker.from_settings(settings)
            broker.start()
            stack.callback(broker.stop)
            ensure_topics(settings.kafka)
        if "redis" in services:
            redis = RedisServer.from_settings(settings)
            redis.start()
            stack.callback(redis.stop)
        yield settings


def machine_info() -> dict[str, Any]:
    packages = ("pyspark", "confluent-kafka", "grpcio", "redis", "websockets", "protobuf", "dagster")
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": _memory_gib(),
        "python": host.python_version(), "java": java[0] if java else None, "os": host.platform(),
        "versions": {name: _version(name) for name in packages},
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return host.processor()


def _memory_gib() -> float:
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        return round(kib / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        return 0.0


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def save_result(name: str, command: str, settings: Settings, figures: dict[str, Any], plots: list[str],
                smoke: bool) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}{'-smoke' if smoke else ''}.json"
    document = {
        "scenario": name, "smoke": smoke, "command": command, "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "settings": settings_record(settings),
        "figures": figures, "plots": plots,
    }
    path.write_text(json.dumps(document, indent=2, default=str))
    return path


def settings_record(settings: Settings) -> dict[str, Any]:
    """Every setting for the result file, by its flat name (kafka_port, ...); secrets left out."""
    values = {flat: getattr(settings.section(section), field) for flat, (section, field) in FLAT_NAMES.items()}
    return {flat: value for flat, value in values.items() if not isinstance(value, SecretStr)}


def flatten(figures: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows = []
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += flatten(value, f"{name}.")
        elif not isinstance(value, list):
            rows.append((name, value))
    return rows


def print_figures(name: str, figures: dict[str, Any]) -> None:
    table = Table(title=f"bench {name}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in flatten(figures):
        table.add_row(key, f"{value:,.3f}" if isinstance(value, float) else str(value))
    Console(width=max(140, Console().width)).print(table)


def command_line(argv: Sequence[str] | None = None) -> str:
    return "quantcore " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
