"""Dagster resources: the platform's settings, shared by every op, asset and sensor."""

from __future__ import annotations

import os

from dagster import ConfigurableResource

from quantcore_platform.settings import Settings, load_settings


class QuantcoreSettingsResource(ConfigurableResource):
    """The one Settings object, built from the environment the Dagster processes inherit
    from `quantcore up` (QUANTCORE_* variables), optionally pointed at another home/TOML."""

    home: str | None = None
    config_file: str | None = None

    def settings(self) -> Settings:
        if self.config_file:
            os.environ["QUANTCORE_CONFIG"] = self.config_file
        return load_settings(home=self.home)
