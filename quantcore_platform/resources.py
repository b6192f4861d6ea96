"""Dagster resources: the platform's settings, shared by every op, asset, check and sensor,
and the launcher of Spark jobs they choose."""

from __future__ import annotations

import os
import threading

from dagster import ConfigurableResource

from quantcore.settings import SECTIONS, Settings, load_settings
from quantcore_platform.spark_launch import SparkLauncher, launcher_for

_CONFIG_ENV = "QUANTCORE_CONFIG"
_env_lock = threading.Lock()


class QuantcoreSettingsResource(ConfigurableResource):
    """The one Settings object, built from the environment the Dagster processes inherit
    from `quantcore up` (QUANTCORE_* variables), optionally pointed at another home/TOML.
    Sections load when first used, so a bad value fails only what uses it."""

    home: str | None = None
    config_file: str | None = None

    def settings(self) -> Settings:
        if not self.config_file:
            return load_settings(home=self.home)
        # A section reads QUANTCORE_CONFIG when it loads: point it at our file for that
        # moment only (other resources in this process keep their own), load every section
        # then, and keep the values (see `_pinned`).
        with _env_lock:
            previous = os.environ.get(_CONFIG_ENV)
            os.environ[_CONFIG_ENV] = self.config_file
            try:
                return _pinned(load_settings(home=self.home).validate())
            finally:
                if previous is None:
                    os.environ.pop(_CONFIG_ENV, None)
                else:
                    os.environ[_CONFIG_ENV] = previous

    def spark_launcher(self) -> SparkLauncher:
        """How this deployment runs Spark jobs (QUANTCORE_SPARK_LAUNCHER: local, submit or emr)."""
        return launcher_for(self.settings())


def _pinned(settings: Settings) -> Settings:
    """The loaded sections' values as explicit overrides: `override()` builds a new Settings
    whose sections load again, and they must not read the file after the switch ends."""
    values = {}
    for section in SECTIONS:
        loaded = settings.section(section.section_name)
        values[section.section_name] = {name: getattr(loaded, name) for name in section.model_fields}
    return settings.override(**values)
