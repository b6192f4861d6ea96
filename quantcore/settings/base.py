"""What every settings section shares: the `QUANTCORE_*` names, the TOML file, errors.

A section is a pydantic-settings model. Each field declares the environment variable it is
read from (`setting(..., env="KAFKA_PORT")` -> QUANTCORE_KAFKA_PORT): the names users
already set keep working while the fields get short names inside their section. Sources,
highest first: explicit overrides, environment, the TOML file (`QUANTCORE_CONFIG`, default
`quantcore.toml` in the working directory; `[section]` tables, or the flat names), defaults.
"""

from __future__ import annotations

import os
import tomllib
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "QUANTCORE_"
CONFIG_ENV = "QUANTCORE_CONFIG"
DEFAULT_CONFIG_FILE = "quantcore.toml"


class ConfigError(Exception):
    """A setting is invalid; the message names it and says how to fix it."""


def setting(default: Any = ..., *, env: str, description: str | None = None, **constraints: Any) -> Any:
    """A field read from QUANTCORE_{env} (and settable by its field name in code and TOML)."""
    return Field(default, validation_alias=ENV_PREFIX + env, description=description, **constraints)


def setting_factory(factory, *, env: str, description: str | None = None) -> Any:
    return Field(default_factory=factory, validation_alias=ENV_PREFIX + env, description=description)


def config_file() -> Path | None:
    """The TOML file in force: QUANTCORE_CONFIG (empty = none), else ./quantcore.toml."""
    value = os.environ.get(CONFIG_ENV)
    if value == "":
        return None
    path = Path(value or DEFAULT_CONFIG_FILE)
    return path if path.is_file() else None


def read_config_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the settings file {path}: {exc} "
                          f"(fix the file, or point {CONFIG_ENV} elsewhere)") from None


class _TomlSection(PydanticBaseSettingsSource):
    """This section's values from the TOML file: its `[name]` table, or flat legacy names."""

    def __init__(self, settings_cls: type[Section]) -> None:
        super().__init__(settings_cls)
        self.section = settings_cls

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        document = read_config_file(config_file())
        values = self.section.by_alias(document.get(self.section.section_name, {}))
        by_env = self.section.fields_by_env()
        for key, value in document.items():
            if not isinstance(value, dict) and (ENV_PREFIX + key.upper()) in by_env:
                values[ENV_PREFIX + key.upper()] = value
        return values


class Section(BaseSettings):
    """One component's settings (see the module doc)."""

    # No populate_by_name: it would make the environment source read a field's bare name
    # too (HOME, PORT...). Code and TOML values are keyed by field name and translated to
    # the QUANTCORE_* alias before validation (`by_alias`).
    model_config = SettingsConfigDict(extra="forbid", validate_default=True, case_sensitive=False, frozen=True)
    section_name: ClassVar[str] = ""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _TomlSection(settings_cls)

    @classmethod
    def fields_by_env(cls) -> dict[str, str]:
        """{QUANTCORE_NAME: field name} of this section."""
        return {str(info.validation_alias): name for name, info in cls.model_fields.items()}

    @classmethod
    def env_of(cls, field: str) -> str:
        return str(cls.model_fields[field].validation_alias)

    @classmethod
    def by_alias(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Values keyed by field name, re-keyed by their QUANTCORE_* alias (unknown keys kept,
        so validation reports them)."""
        return {cls.env_of(k) if k in cls.model_fields else k: v for k, v in values.items()}

    @classmethod
    def load(cls, **overrides: Any) -> Section:
        """Build the section, turning validation errors into one readable `ConfigError`."""
        try:
            return cls(**cls.by_alias({k: v for k, v in overrides.items() if v is not None}))
        except ValidationError as exc:
            raise ConfigError(describe_errors(cls, exc)) from None

    def with_overrides(self, **overrides: Any) -> Section:
        """A copy with these fields changed, validated like every other source."""
        unknown = [name for name in overrides if name not in type(self).model_fields]
        if unknown:
            raise ConfigError(f"unknown {self.section_name} setting(s): {', '.join(unknown)} "
                              f"(known: {', '.join(type(self).model_fields)})")
        current = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self).load(**{**current, **{k: v for k, v in overrides.items() if v is not None}})

    def env(self) -> dict[str, str]:
        """This section as QUANTCORE_* variables for a child process (secrets revealed: pass
        a section only to a child that uses it)."""
        found = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, Enum):
                value = value.value
            elif isinstance(value, list):
                value = ",".join(str(v) for v in value)
            found[type(self).env_of(name)] = str(value)
        return found


def describe_errors(section: type[Section], exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        if not loc:
            lines.append(f"invalid {section.section_name} settings: {error['msg']}")
            continue
        key = loc[0]
        if error["type"] == "extra_forbidden":
            name = key.removeprefix(ENV_PREFIX).lower() if key.upper().startswith(ENV_PREFIX) else key
            lines.append(f"unknown setting {section.section_name}.{name}: remove or correct it "
                         f"(known: {', '.join(section.model_fields)})")
            continue
        by_env = section.fields_by_env()
        field = by_env.get(key.upper(), key)
        env = section.env_of(field) if field in section.model_fields else ENV_PREFIX + key.upper()
        lines.append(f"invalid setting {section.section_name}.{field} ({env}): {error['msg']} "
                     f"(set {env}, or `{field}` under [{section.section_name}] in {DEFAULT_CONFIG_FILE})")
    return "\n".join(lines)


def secret_value(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None
