"""Settings of the metrics service: shared variables plus `METRICS_*` ones.

KPI targets default to the hospitals' own numbers (../shared/DOMAIN.md), kept in each
KPI's definition (kpi.KPIS); override any of
them with `METRICS_KPI_TARGETS='{"satisfaction_rate": 0.9}'` (the others keep their
defaults). A target of `null` means "measured, no target".
"""

from __future__ import annotations

from pydantic import Field

from hospital_shared.settings import service_settings_class
from hospital_shared.vocabulary import ComplaintCategory, TaskKind
from metrics.kpi import KPIS

_Base = service_settings_class("metrics", 8005)

# KPI key -> target share (0..1), from each KPI's definition (kpi.KPIS).
DOMAIN_TARGETS: dict[str, float | None] = {k.key: k.target for k in KPIS}

# The vocabulary's complaint categories (the complaints service classifies into them).
COMPLAINT_CATEGORIES: list[str] = [c.value for c in ComplaintCategory]


class Settings(_Base):  # type: ignore[misc,valid-type]
    # One consumer for all nine topics (app.py), its batch split by partition into two
    # transactions at once: while one waits on PostgreSQL, the other's Python runs (the nine
    # consumers of release 0.14 overlapped so, with batches of 500 each to bound memory).
    consumer_concurrency: int = Field(
        2, ge=1, le=8, description="transactions a batch is split into (by partition), run at once"
    )
    kpi_targets: dict[str, float | None] = Field(
        default_factory=dict, description="KPI target overrides, merged over DOMAIN_TARGETS"
    )
    # Seconds between two reads of the counter totals and gauges from the store.
    store_refresh_interval_s: float = 2.0
    # A counter series is served at 0 for this long after its first event, so that
    # Prometheus scrapes it at 0 at least twice and increase() counts that first event: more
    # than two scrape intervals plus the refresh interval (devstack scrapes every 5 s,
    # deploy/prometheus every 15 s).
    new_series_zero_s: float = Field(45.0, ge=0)
    # The KPI gauges (for alerts and the overview dashboard) cover the cohort of the
    # `kpi_window_days` local days that ended `kpi_window_offset_days` ago, so calls still
    # within their due time do not count as misses.
    kpi_window_days: int = 7
    kpi_window_offset_days: int = 3
    kpi_refresh_interval_s: float = 30.0
    # Seconds between two reads of every consumer group's committed offsets from Kafka.
    group_lag_interval_s: float = 15.0
    # Consumer groups of the other services that a release replaced by one group (follow-up's
    # one group a topic until 2026-12-06): their lag is not exported, as it would grow for
    # nothing until the broker expires their offsets. Name them as the service's
    # `<SERVICE>_CONSUMER_GROUP` prefix makes them. Metrics' own retired groups are always left out.
    retired_consumer_groups: list[str] = Field(
        default_factory=lambda: ["followup.discharges", "followup.registrations"]
    )
    # Discharges that are not followed up by a call and leave the inpatient cohort.
    followup_excluded_dispositions: list[str] = Field(default_factory=lambda: ["deceased"])
    # Used only when a case event carries no due time of its own.
    complaint_first_response_hours: float = 24.0
    complaint_categories: list[str] = Field(default_factory=lambda: list(COMPLAINT_CATEGORIES))
    # Satisfaction answers about registration: this aspect, or outpatient calls when the
    # follow-up service records a single overall answer.
    registration_aspect: str = "registration"
    # A registration queue above this many people opens an episode and tells the supervisor
    # (挂号排队超过8人以上，应及时汇报); the episode closes at or below `queue_clear_at`.
    queue_alert_above: int = Field(8, ge=0)
    queue_clear_at: int = Field(5, ge=0)
    # Follow-up tasks of these kinds are quality checks of a call already made (抽查, 二次回访):
    # their answers are not patients' satisfaction answers, and they do not hold a visit's
    # follow-up window open.
    quality_check_kinds: list[str] = Field(
        default_factory=lambda: [TaskKind.SPOT_CHECK.value, TaskKind.SECOND_CALL.value]
    )
    # A visit or discharge with no follow-up task seen (not sampled, or no plan yet) is pending
    # for this many days after it, then missed unless reached (the call windows' 3 days).
    followup_window_days: float = Field(3.0, ge=0)
    # A visit or discharge with no satisfaction answer yet is pending for survey coverage this
    # many days after it, while its SMS survey link may still be answered (notifications sends
    # it NOTIFICATIONS_SURVEY_DELAY_H, 24 h, after; it answers for
    # NOTIFICATIONS_SURVEY_LINK_VALIDITY_DAYS, 7), as well as while its follow-up window is
    # open; then it counts as not covered. 0 where no visit gets a link by SMS.
    survey_window_days: float = Field(8.0, ge=0)
    # A patient contact's satisfaction answer counts in the period of its first answer, by
    # call or SMS survey: answers this many days before a period are read to find it.
    satisfaction_lookback_days: float = Field(31.0, ge=0)
    # An SMS handed to the gateway without a final status (delivered, failed, expired) is
    # pending this long, then counts as not delivered (Kannel's validity is 48 h).
    sms_delivery_window_hours: float = Field(48.0, ge=0)

    def effective_targets(self) -> dict[str, float | None]:
        return {**DOMAIN_TARGETS, **self.kpi_targets}
