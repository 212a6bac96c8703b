"""Settings of the followup service: shared variables plus `FOLLOWUP_*` ones."""

from __future__ import annotations

from hospital_shared.settings import service_settings_class

_Base = service_settings_class("followup", 8002)


class Settings(_Base):  # type: ignore[misc,valid-type]
    pass
