"""Settings of the metrics service: shared variables plus `METRICS_*` ones."""

from __future__ import annotations

from hospital_shared.settings import service_settings_class

_Base = service_settings_class("metrics", 8005)


class Settings(_Base):  # type: ignore[misc,valid-type]
    pass
