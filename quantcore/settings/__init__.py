"""Typed settings in sections, one per component (see `platform.Settings`).

Every value comes from (highest first) explicit overrides, `QUANTCORE_*` environment
variables, an optional TOML file (`QUANTCORE_CONFIG`, default `quantcore.toml` in the
working directory), then the defaults. Invalid values fail with a message that names the
setting and its variable and says how to fix it.
"""

from quantcore.settings.base import ConfigError, Section
from quantcore.settings.platform import FLAT_NAMES, Settings, load_settings, reveal
from quantcore.settings.sections import (
    DEFAULT_SYMBOLS,
    REPO_ROOT,
    SECTIONS,
    BookModeSetting,
    ComputeSettings,
    DagsterSettings,
    HeartbeatSettings,
    IngestSettings,
    KafkaSettings,
    LoggingSettings,
    MarketSettings,
    PathsSettings,
    RedisSettings,
    ReplaySettings,
    ServeSettings,
    SignalsSettings,
    SimulatorSettings,
    Source,
    SparkLauncherKind,
    SparkLaunchSettings,
    SparkSettings,
    TradeStreams,
    TriggerMode,
)

__all__ = [
    "DEFAULT_SYMBOLS", "FLAT_NAMES", "REPO_ROOT", "SECTIONS", "BookModeSetting", "ComputeSettings", "ConfigError",
    "DagsterSettings", "HeartbeatSettings", "IngestSettings", "KafkaSettings", "LoggingSettings", "MarketSettings",
    "PathsSettings", "RedisSettings", "ReplaySettings", "Section", "ServeSettings", "Settings", "SignalsSettings",
    "SimulatorSettings", "Source", "SparkLaunchSettings", "SparkLauncherKind", "SparkSettings", "TradeStreams",
    "TriggerMode", "load_settings", "reveal",
]
