"""Dagster resources: the platform's settings, shared by every op, asset, check and sensor."""

from __future__ import annotations

import os
import threading

from dagster import ConfigurableResource

from quantcore.settings import Settings, load_settings

_CONFIG_ENV = "QUANTCORE_CONFIG"
_env_lock = threading.Lock()


class QuantcoreSettingsResource(ConfigurableResource):
    """The one Settings object, built from the environment the Dagster processes inherit
    from `quantcore up` (QUANTCORE_* variables), optionally pointed at another home/TOML."""

    home: str | None = None
    config_file: str | None = None

    def settings(self) -> Settings:
        if not self.config_file:
            return load_settings(home=self.home)
        # The TOML source reads QUANTCORE_CONFIG when Settings is built: point it at our file
        # for that moment only, so other resources in this process keep their own.
        with _env_lock:
            previous = os.environ.get(_CONFIG_ENV)
            os.environ[_CONFIG_ENV] = self.config_file
            try:
                return load_settings(home=self.home)
            finally:
                if previous is None:
                    os.environ.pop(_CONFIG_ENV, None)
                else:
                    os.environ[_CONFIG_ENV] = previous
