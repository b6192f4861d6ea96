"""Settings for a throwaway platform (its own home and free ports) and the environment of its CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from quantcore.settings import SECTIONS, Settings, load_settings
from quantcore_platform.services.process import free_port, free_port_block

ALL_SECTIONS = tuple(section.section_name for section in SECTIONS)


def make_settings(home: Path, **overrides) -> Settings:
    """Settings for a throwaway platform: its own home and free ports (flat names override)."""
    ports = {
        "kafka_port": free_port(), "kafka_controller_port": free_port(), "redis_port": free_port(),
        "grpc_port": free_port(), "simulator_port": free_port(), "dagster_port": free_port(),
        "dagster_code_server_port": free_port(),
    }
    return load_settings(home=home, **{**ports, **overrides})


def platform_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The whole environment of a `quantcore` command run against `settings`: every section
    (the CLI may start anything), as an operator's shell would hold them, plus `extra`."""
    return {**settings.child_env(*ALL_SECTIONS), **extra}


def settings_toml(path: Path, settings: Settings, **flat: Any) -> str:
    """A settings file (TOML, flat names) for the Dagster resource, which is how a deployment
    configures it: the home and ports of `settings`, plus `flat`. Returns its path."""
    values = {"home": str(settings.paths.home), "kafka_port": settings.kafka.port,
              "kafka_controller_port": settings.kafka.controller_port, "redis_port": settings.redis.port, **flat}
    # JSON's strings, numbers and booleans are TOML's too
    path.write_text("".join(f"{name} = {json.dumps(value)}\n" for name, value in values.items()))
    return str(path)


def cluster_ports(brokers: int, workers: int) -> dict[str, int]:
    """Overrides for a local cluster's ports: node n of Kafka on kafka_port + 2(n-1) (its
    controller one above), the Spark master and its workers on consecutive ports."""
    kafka = free_port_block(2 * brokers)
    return {"kafka_port": kafka, "kafka_controller_port": kafka + 1,
            "spark_cluster_port": free_port_block(workers + 1), "spark_cluster_ui_port": free_port_block(workers + 1)}
