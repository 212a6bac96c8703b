"""The SMS gateway's and HL7 listener's failure counters exist at 0 from the start, so
Prometheus's increase() counts their first failure (issue 20: a series born at 1 never
increased, and `SmsGatewayFailing` or the gateways dashboard would miss it)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from notifications.app import create_app
from notifications.settings import Settings


def value(name: str, labels: dict[str, str]) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_every_hand_over_outcome_of_a_patient_template_starts_at_zero() -> None:
    create_app(Settings())
    for outcome in ("accepted", "retry", "rejected", "unknown"):
        labels = {"template": "discharge_care_notice", "outcome": outcome}
        assert value("notifications_sms_handed_total", labels) is not None, outcome


def test_every_mllp_connection_outcome_starts_at_zero() -> None:
    import registration.mllp  # noqa: F401  (defines and starts the series)

    for outcome in ("accepted", "refused", "too_many", "timed_out", "oversized"):
        assert value("registration_mllp_connections_total", {"outcome": outcome}) is not None
