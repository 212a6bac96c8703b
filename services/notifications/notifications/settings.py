"""Settings of the notifications service: shared variables plus `NOTIFICATIONS_*` ones."""

from __future__ import annotations

from hospital_shared.settings import service_settings_class

_Base = service_settings_class("notifications", 8004)


class Settings(_Base):  # type: ignore[misc,valid-type]
    kannel_url: str = "http://127.0.0.1:13013/cgi-bin/sendsms"
    kannel_username: str = "hospital"
    kannel_password: str = "hospital-dev"
    public_url: str = "http://127.0.0.1:8004"  # base of the dlr-url Kannel calls back
