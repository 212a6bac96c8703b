"""Every environment variable a service reads, derived from its `Settings` class.

`env_vars` is the one place that turns a pydantic-settings model into variable names: shared
settings are read from their unprefixed alias (`DATABASE_URL`), a service's own from
`<PREFIX><FIELD>` (`FOLLOWUP_HTTP_PORT`). `render_markdown` writes `docs/configuration.md`:

    uv run python -m hospital_shared.config_docs registration followup complaints ...

Services are named on the command line, never imported here at module level.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python
from pydantic_settings import BaseSettings

# Descriptions of the `ServiceSettings` fields that carry none of their own.
_BASE_DESCRIPTIONS: dict[str, str] = {
    "http_host": "address the HTTP API binds to (0.0.0.0 in a container)",
    "http_port": "HTTP port of the API, `/healthz`, `/readyz` and `/metrics`",
    "consumer_group": "Kafka consumer group prefix (one group per handler)",
    "outbox_poll_interval_s": "seconds between outbox relay polls",
    "outbox_batch_size": "outbox rows published per relay round",
    "retry_initial_backoff_s": "first retry delay of a failing handler, seconds",
    "retry_max_backoff_s": "largest retry delay of a failing handler, seconds",
    "max_handler_attempts": "handler attempts before an event goes to the dead-letter topic",
    "db_pool_min": "smallest database pool size",
    "db_pool_max": "largest database pool size",
}


@dataclass(frozen=True, slots=True)
class EnvVar:
    """One environment variable a settings class reads."""

    name: str
    field: str
    type: str
    default: Any
    required: bool
    shared: bool
    description: str


def settings_class(service: str) -> type[BaseSettings]:
    """`<service>.settings.Settings`, imported on demand."""
    cls: type[BaseSettings] = importlib.import_module(f"{service}.settings").Settings
    return cls


def env_prefix(settings_cls: type[BaseSettings]) -> str:
    return str(settings_cls.model_config.get("env_prefix") or "").upper()


def _alias_names(info: FieldInfo) -> list[str]:
    alias = info.validation_alias or info.alias
    if isinstance(alias, str):
        return [alias.upper()]
    if isinstance(alias, AliasChoices):
        return [choice.upper() for choice in alias.choices if isinstance(choice, str)]
    return []


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return re.sub(r"\b(?:\w+\.)+(\w+)", r"\1", str(annotation))  # `typing.Any`, `pkg.mod.Model`


def _effective_defaults(settings_cls: type[BaseSettings]) -> dict[str, Any]:
    """Defaults after `model_post_init` (e.g. `http_port` 0 -> the service's port), no env read."""
    try:
        return dict(settings_cls.model_construct().__dict__)
    except Exception:
        return {}


def env_vars(settings_cls: type[BaseSettings]) -> list[EnvVar]:
    """The canonical variable names `settings_cls` reads, one per name, in field order."""
    prefix = env_prefix(settings_cls)
    defaults = _effective_defaults(settings_cls)
    result: list[EnvVar] = []
    for field, info in settings_cls.model_fields.items():
        aliases = _alias_names(info)
        names = aliases or [f"{prefix}{field}".upper()]
        required = info.is_required()
        default = (
            None if required else defaults.get(field, info.get_default(call_default_factory=True))
        )
        description = info.description or _BASE_DESCRIPTIONS.get(field, "")
        for name in names:
            result.append(
                EnvVar(
                    name=name,
                    field=field,
                    type=_type_name(info.annotation),
                    default=default,
                    required=required,
                    shared=bool(aliases),
                    description=description,
                )
            )
    return result


@contextlib.contextmanager
def clean_environment(settings_cls: type[BaseSettings]) -> Iterator[None]:
    """Hide every variable `settings_cls` could read, so `Settings()` gives its defaults."""
    names = {v.name for v in env_vars(settings_cls)}
    prefix = env_prefix(settings_cls)
    hidden = {
        key: value
        for key, value in os.environ.items()
        if key.upper() in names or (prefix and key.upper().startswith(prefix))
    }
    for key in hidden:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(hidden)


def env_value(value: Any) -> str:
    """`value` written as an environment variable: JSON for lists, dicts and models."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(to_jsonable_python(value), ensure_ascii=False)


def _cell(value: Any) -> str:
    if value is None:
        return "*(unset)*"
    if value == "":
        return '`""`'
    return "`" + env_value(value).replace("|", "\\|") + "`"


def _table(rows: Sequence[EnvVar]) -> list[str]:
    lines = ["| Variable | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for v in rows:
        default = "**required**" if v.required else _cell(v.default)
        description = v.description.replace("|", "\\|")
        type_ = v.type.replace("|", "\\|")
        lines.append(f"| `{v.name}` | `{type_}` | {default} | {description} |")
    return lines


def render_markdown(services: Mapping[str, type[BaseSettings]]) -> str:
    """docs/configuration.md: the variables all services share, then each service's own."""
    per_service = {name: env_vars(cls) for name, cls in services.items()}
    common_keys = set.intersection(
        *(
            {(v.name, v.type, repr(v.default)) for v in rows if v.shared}
            for rows in per_service.values()
        )
    )
    first = next(iter(per_service.values()))
    common = [v for v in first if (v.name, v.type, repr(v.default)) in common_keys]
    common_names = {v.name for v in common}
    lines = [
        "# Configuration",
        "",
        "Every environment variable the services read. Generated from the services' `Settings`",
        "classes by `uv run python -m hospital_shared.config_docs "
        + " ".join(services)
        + "`; do not edit by hand.",
        "",
        "## Shared by every service",
        "",
        "Unprefixed, so one environment (`.stack/env`, the compose `x-service-env` block) serves all.",
        "",
        *_table(common),
    ]
    for name, rows in per_service.items():
        own = [v for v in rows if v.name not in common_names]
        prefix = env_prefix(services[name])
        lines += ["", f"## {name}", "", f"Prefix `{prefix}`.", "", *_table(own)]
    return "\n".join(lines) + "\n"


def write_configuration(services: Sequence[str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown({s: settings_class(s) for s in services}), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write docs/configuration.md from the Settings classes"
    )
    parser.add_argument("services", nargs="+", help="service packages, e.g. registration followup")
    parser.add_argument("--output", type=Path, default=Path("docs/configuration.md"))
    args = parser.parse_args(argv)
    print(write_configuration(args.services, args.output))


if __name__ == "__main__":
    main()
