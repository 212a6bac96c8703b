"""Settings of the registration service: shared variables plus `REGISTRATION_*` ones."""

from __future__ import annotations

from hospital_shared.settings import service_settings_class

_Base = service_settings_class("registration", 8001)


class Settings(_Base):  # type: ignore[misc,valid-type]
    mllp_host: str = "127.0.0.1"
    mllp_port: int = 2575
    mllp_allowed_sources: str = ""  # comma-separated addresses; empty allows all
    mllp_tls_cert: str | None = None
    mllp_tls_key: str | None = None
