"""The enquiry and feedback KPIs: answered in time overall and per channel, the praise and
suggestion counts as numerators of the monthly report, all measured without a target."""

from __future__ import annotations

from metrics import catalog
from metrics.kpi import KPI_KEYS, evaluate_all
from metrics.settings import DOMAIN_TARGETS

NEW = (
    "enquiry_answered_in_time_rate",
    "enquiry_answered_in_time_rate_phone",
    "enquiry_answered_in_time_rate_onsite",
    "enquiry_answered_in_time_rate_online",
    "praise_share",
    "suggestion_share",
    "suggestion_adoption_rate",
)


def test_every_enquiry_and_feedback_kpi_is_reported_without_a_target() -> None:
    assert set(NEW) <= set(KPI_KEYS)
    assert all(DOMAIN_TARGETS[key] is None for key in NEW)


def test_answered_in_time_is_a_cohort_rate_and_an_empty_channel_has_no_value() -> None:
    counts = {"enquiry_answered_in_time_rate": (3, 4), "praise_share": (2, 10)}
    results = {r.key: r for r in evaluate_all(counts, DOMAIN_TARGETS)}
    assert results["enquiry_answered_in_time_rate"].value == 0.75
    assert results["enquiry_answered_in_time_rate_phone"].value is None
    assert results["praise_share"].numerator == 2 and results["praise_share"].met is None


def test_the_new_counters_carry_only_bounded_labels() -> None:
    for spec in (
        catalog.ENQUIRIES,
        catalog.ENQUIRIES_ANSWERED,
        catalog.ENQUIRY_ALERTS,
        catalog.FEEDBACK,
        catalog.SUGGESTIONS_ANSWERED,
    ):
        assert set(spec.labels) <= catalog.ALLOWED_LABELS
        assert spec in catalog.COUNTERS
