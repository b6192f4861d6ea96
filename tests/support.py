"""Helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from quantcore_platform.services.process import free_port
from quantcore.settings import Settings, load_settings


def make_settings(home: Path, **overrides) -> Settings:
    """Settings for a throwaway platform: its own home and free ports."""
    ports = {
        "kafka_port": free_port(), "kafka_controller_port": free_port(), "redis_port": free_port(),
        "grpc_port": free_port(), "simulator_port": free_port(), "dagster_port": free_port(),
    }
    return load_settings(home=home, **{**ports, **overrides})
