"""Service settings from the environment (pydantic-settings).

Settings every service shares are read from unprefixed variables (`KAFKA_BOOTSTRAP_SERVERS`,
`DATABASE_URL`, ...), so one `.stack/env` or compose `environment:` block serves all five.
Each service's own settings use its prefix (`FOLLOWUP_HTTP_PORT`, `NOTIFICATIONS_KANNEL_URL`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _shared(name: str, default: Any, description: str) -> Any:
    return Field(default, validation_alias=AliasChoices(name), description=description)


class ServiceSettings(BaseSettings):
    """What every service needs. Subclasses set `service_name` and their env prefix."""

    model_config = SettingsConfigDict(extra="ignore")

    service_name: ClassVar[str] = "service"
    default_http_port: ClassVar[int] = 8000

    env: str = _shared("ENV", "development", "development | test | production")
    kafka_bootstrap_servers: str = _shared(
        "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", "Kafka bootstrap servers"
    )
    database_url: str = _shared(
        "DATABASE_URL", "postgresql://hospital:hospital@127.0.0.1:5432/hospital", "PostgreSQL DSN"
    )
    hospital_tz: str = _shared("HOSPITAL_TZ", "Asia/Shanghai", "hospital-local time zone")
    auth_tokens: str | None = _shared(
        "AUTH_TOKENS", None, "JSON token -> principal; development tokens when unset"
    )
    log_level: str = _shared("LOG_LEVEL", "INFO", "log level")
    http_host: str = "127.0.0.1"
    http_port: int = 0
    consumer_group: str = ""
    outbox_poll_interval_s: float = 0.2
    outbox_batch_size: int = 500
    retry_initial_backoff_s: float = 0.2
    retry_max_backoff_s: float = 10.0
    max_handler_attempts: int = 5
    # What one consumer may fetch ahead from the broker (per partition, and in all): the
    # records waiting in memory. Kafka's defaults (1 MB, 50 MB) let a service with several
    # consumers on 12-partition topics hold well over 100 MB of backlog; a batch of 500
    # events is ~300 KB.
    consumer_partition_fetch_bytes: int = 256 * 1024
    consumer_fetch_max_bytes: int = 4 * 1024 * 1024
    # Transactions a batch is split into, by partition, that run at the same time: more than
    # one overlaps one part's database work with another part's Python work while a backlog
    # is worked off. Each takes a pooled connection.
    consumer_concurrency: int = Field(
        1, ge=1, le=8, description="transactions a batch is split into (by partition), run at once"
    )
    db_pool_min: int = 1
    db_pool_max: int = 5

    def model_post_init(self, __context: Any) -> None:
        if not self.http_port:
            self.http_port = self.default_http_port
        if not self.consumer_group:
            self.consumer_group = self.service_name

    @property
    def db_schema(self) -> str:
        return self.service_name


def service_settings_class(name: str, port: int) -> type[ServiceSettings]:
    """A settings class for service `name`, reading `NAME_*` variables."""

    class _Settings(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix=f"{name.upper()}_", extra="ignore")
        service_name: ClassVar[str] = name
        default_http_port: ClassVar[int] = port

    _Settings.__name__ = f"{name.capitalize()}Settings"
    return _Settings
