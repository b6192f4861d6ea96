"""Settings for a throwaway platform (its own home and free ports) and the environment of its CLI."""

from __future__ import annotations

from pathlib import Path

from quantcore.settings import SECTIONS, Settings, load_settings
from quantcore_platform.services.process import free_port

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
