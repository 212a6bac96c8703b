"""Settings of the complaints service: shared variables plus `COMPLAINTS_*` ones."""

from __future__ import annotations

from hospital_shared.settings import service_settings_class

_Base = service_settings_class("complaints", 8003)


class Settings(_Base):  # type: ignore[misc,valid-type]
    pass
