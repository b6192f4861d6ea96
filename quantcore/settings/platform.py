"""`Settings`: the platform's sections, each loaded (and validated) when first used.

A process builds one `Settings` at its edge (the CLI command, the Dagster op, a test) and
hands each component the section(s) it needs: `KafkaSink(settings.kafka, settings.ingest)`.
Loading is lazy, so a bad value in one section fails only what uses that section (the
Dagster code location loads even if, say, QUANTCORE_GRPC_PORT is wrong: the serve job fails,
naming the variable).

Overrides (CLI options, Dagster run config, tests) go through one validated path:
`settings.override(grpc_port=6000, shards=2)` with the flat `QUANTCORE_*` names, or
`settings.override(serve={"port": 6000})` by section.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import SecretStr

from quantcore.settings.base import CONFIG_ENV, ENV_PREFIX, ConfigError, Section, config_file, read_config_file
from quantcore.settings.sections import (
    SECTIONS,
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
    SparkLaunchSettings,
    SparkSettings,
)

_BY_NAME: dict[str, type[Section]] = {section.section_name: section for section in SECTIONS}


def _flat_names() -> dict[str, tuple[str, str]]:
    """{flat name (QUANTCORE_ name, lowercase, no prefix): (section, field)}."""
    names = {}
    for section in SECTIONS:
        for env, field in section.fields_by_env().items():
            names[env.removeprefix(ENV_PREFIX).lower()] = (section.section_name, field)
    return names


FLAT_NAMES = _flat_names()


class Settings:
    """The sections of one platform (see the module doc)."""

    def __init__(self, overrides: dict[str, dict[str, Any]] | None = None) -> None:
        self._overrides = {name: dict(values) for name, values in (overrides or {}).items()}
        unknown = set(self._overrides) - set(_BY_NAME)
        if unknown:
            raise ConfigError(f"unknown settings section(s): {', '.join(sorted(unknown))} "
                              f"(known: {', '.join(_BY_NAME)})")
        self._loaded: dict[str, Section] = {}

    # --- sections ----------------------------------------------------------------------
    def section(self, name: str) -> Section:
        if name not in self._loaded:
            self._loaded[name] = _BY_NAME[name].load(**self._overrides.get(name, {}))
        return self._loaded[name]

    @property
    def paths(self) -> PathsSettings:
        return self.section("paths")

    @property
    def kafka(self) -> KafkaSettings:
        return self.section("kafka")

    @property
    def redis(self) -> RedisSettings:
        return self.section("redis")

    @property
    def market(self) -> MarketSettings:
        return self.section("market")

    @property
    def simulator(self) -> SimulatorSettings:
        return self.section("simulator")

    @property
    def ingest(self) -> IngestSettings:
        ingest = self.section("ingest")
        if ingest.shards > len(self.market.symbols):
            raise ConfigError(f"invalid setting ingest.shards (QUANTCORE_SHARDS): {ingest.shards} shards cannot "
                              f"exceed the number of symbols ({len(self.market.symbols)}); lower QUANTCORE_SHARDS "
                              "or add symbols (QUANTCORE_SYMBOLS)")
        return ingest

    @property
    def spark(self) -> SparkSettings:
        return self.section("spark")

    @property
    def spark_launch(self) -> SparkLaunchSettings:
        return self.section("spark_launch")

    @property
    def signals(self) -> SignalsSettings:
        return self.section("signals")

    @property
    def compute(self) -> ComputeSettings:
        return self.section("compute")

    @property
    def serve(self) -> ServeSettings:
        return self.section("serve")

    @property
    def heartbeat(self) -> HeartbeatSettings:
        return self.section("heartbeat")

    @property
    def dagster(self) -> DagsterSettings:
        return self.section("dagster")

    @property
    def replay(self) -> ReplaySettings:
        return self.section("replay")

    @property
    def logging(self) -> LoggingSettings:
        return self.section("logging")

    def validate(self, *names: str) -> Settings:
        """Load these sections now (all by default), so errors surface at start."""
        for name in names or tuple(_BY_NAME):
            getattr(self, name)
        return self

    # --- overrides -----------------------------------------------------------------------
    def override(self, **changes: Any) -> Settings:
        """A new Settings with these changes: flat names (`grpc_port=1`) or whole sections
        (`serve={"port": 1}`). None values are ignored. Validated when the section loads;
        call `.validate()` to fail at once."""
        merged = {name: dict(values) for name, values in self._overrides.items()}
        for key, value in changes.items():
            if value is None:
                continue
            if key in _BY_NAME and isinstance(value, dict):
                merged.setdefault(key, {}).update({k: v for k, v in value.items() if v is not None})
            elif key in FLAT_NAMES:
                section, field = FLAT_NAMES[key]
                merged.setdefault(section, {})[field] = value
            else:
                raise ConfigError(f"unknown setting {key!r} (a QUANTCORE_* name without the prefix, "
                                  "e.g. grpc_port, or a section name with a dict)")
        return Settings(merged)

    # --- child processes -------------------------------------------------------------------
    def child_env(self, *sections: str, base: dict[str, str] | None = None) -> dict[str, str]:
        """The whole environment of a child process that uses these sections: the parent's
        environment without any QUANTCORE_* variable (no secret leaks through), no settings
        file (the values travel explicitly), then the given sections' variables."""
        env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith(ENV_PREFIX)}
        env[CONFIG_ENV] = ""
        for name in ("logging", *sections):
            env.update(self.section(name).env())
        return env


def check_config_file() -> None:
    """A typo in the TOML file is an error, not a silently ignored line."""
    for key, value in read_config_file(config_file()).items():
        if isinstance(value, dict):
            if key not in _BY_NAME:
                raise ConfigError(f"unknown settings section [{key}] in {config_file()} (known: {', '.join(_BY_NAME)})")
        elif key not in FLAT_NAMES:
            raise ConfigError(f"unknown setting {key!r} in {config_file()}: remove or correct it "
                              "(flat names are the QUANTCORE_* names without the prefix, e.g. grpc_port)")


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and the TOML file, with these overrides (flat names)."""
    check_config_file()
    return Settings().override(**overrides)


def reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None
