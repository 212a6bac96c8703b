"""SQL of the KPI store's reads: cohort counts for the KPI report, and the live totals and
gauges the Prometheus collector serves."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from metrics.kpi import Window

# A visit (discharge or outpatient registration) counts as reached when any follow-up task
# planned from it reached the patient, at whatever time the call happened.
_REACHED = """EXISTS (SELECT 1 FROM follow_up_tasks t
    WHERE t.reached_at IS NOT NULL
      AND (t.source_event_id = {v}.event_id OR t.source_ref = {v}.{ref}))"""
# Surveyed: a call from the visit recorded a satisfaction answer, or the patient answered the
# visit's survey by SMS link (its contact_ref is `admission:<id>` / `registration:<id>`).
_ANSWERED = """(EXISTS (SELECT 1 FROM follow_up_tasks t JOIN satisfaction_answers a USING (task_id)
    WHERE t.source_event_id = {v}.event_id OR t.source_ref = {v}.{ref})
    OR EXISTS (SELECT 1 FROM surveys_answered s
    WHERE s.contact_ref = '{kind}:' || {v}.{ref}))"""

_COHORTS = f"""
WITH inpatient AS (
    SELECT d.*, {_REACHED.format(v="d", ref="admission_id")} AS reached,
           {_ANSWERED.format(v="d", ref="admission_id", kind="admission")} AS answered
    FROM discharges d
    WHERE d.discharged_at >= $1 AND d.discharged_at < $2 AND NOT d.cancelled
      AND NOT (d.disposition = ANY($4::text[]))
      AND ($3::text IS NULL OR d.department = $3)
), booked AS (
    SELECT r.* FROM registrations r
    WHERE r.visit_at >= $1 AND r.visit_at < $2 AND r.cancelled_at IS NULL
      AND ($3::text IS NULL OR r.department = $3)
), outpatient AS (
    SELECT r.*, {_REACHED.format(v="r", ref="registration_id")} AS reached,
           {_ANSWERED.format(v="r", ref="registration_id", kind="registration")} AS answered
    FROM booked r WHERE NOT r.no_show
)
SELECT
    (SELECT count(*) FILTER (WHERE reached) FROM inpatient) AS inpatient_reached,
    (SELECT count(*) FROM inpatient) AS inpatient_total,
    (SELECT count(*) FILTER (WHERE answered) FROM inpatient) AS inpatient_answered,
    (SELECT count(*) FILTER (WHERE reached) FROM outpatient) AS outpatient_reached,
    (SELECT count(*) FROM outpatient) AS outpatient_total,
    (SELECT count(*) FILTER (WHERE answered) FROM outpatient) AS outpatient_answered,
    (SELECT count(*) FILTER (WHERE reached AND visit_type = 'first') FROM outpatient)
        AS first_reached,
    (SELECT count(*) FILTER (WHERE visit_type = 'first') FROM outpatient) AS first_total,
    (SELECT count(*) FILTER (WHERE no_show) FROM booked) AS no_shows,
    (SELECT count(*) FROM booked) AS booked
"""

_ANSWERS = """
SELECT count(*) FILTER (WHERE rating IN ('satisfied', 'fairly_satisfied')) AS positive,
       count(*) AS answers,
       count(*) FILTER (WHERE rating = 'dissatisfied' AND (aspect = $4 OR
           (aspect = 'overall' AND kind = 'outpatient_visit'))) AS registration_dissatisfied,
       count(*) FILTER (WHERE aspect = $4 OR (aspect = 'overall' AND kind = 'outpatient_visit'))
           AS registration_answers
FROM satisfaction_answers
WHERE answered_at >= $1 AND answered_at < $2 AND ($3::text IS NULL OR department = $3)
"""

_COMPLAINTS = """
SELECT count(*) FILTER (WHERE first_response_outcome = 'met') AS first_response_met,
       count(*) AS cases,
       count(*) FILTER (WHERE fact_finding_outcome = 'met'
           AND NOT ('fact_finding' = ANY(breached_limits))) AS fact_finding_met,
       count(*) FILTER (WHERE fact_finding_due_at IS NOT NULL OR fact_finding_outcome IS NOT NULL)
           AS fact_finding_cases,
       (SELECT count(*) FILTER (WHERE satisfied) FROM complaint_satisfaction s
         WHERE s.answered_at >= $1 AND s.answered_at < $2
           AND ($3::text IS NULL OR s.department = $3)) AS handling_satisfied,
       (SELECT count(*) FROM complaint_satisfaction s
         WHERE s.answered_at >= $1 AND s.answered_at < $2
           AND ($3::text IS NULL OR s.department = $3)) AS handling_answers
FROM complaint_cases
WHERE opened_seen AND opened_at >= $1 AND opened_at < $2 AND status <> 'withdrawn'
  AND ($3::text IS NULL OR department = $3)
"""

_SMS = """
SELECT count(*) FILTER (WHERE 'delivered' = ANY(statuses)) AS delivered,
       count(*) FILTER (WHERE statuses && ARRAY['submitted', 'delivered', 'failed', 'expired'])
           AS attempted
FROM sms_messages
WHERE created_at >= $1 AND created_at < $2 AND ($3::text IS NULL OR department = $3)
"""


# Enquiries taken in the period (not turned into complaints), answered within their limit;
# praise, suggestions and complaint cases received in the period; suggestions answered in it.
_ENQUIRIES = """
SELECT count(*) FILTER (WHERE answered_in_time) AS in_time,
       count(*) AS enquiries,
       count(*) FILTER (WHERE answered_in_time AND channel = 'phone') AS phone_in_time,
       count(*) FILTER (WHERE channel = 'phone') AS phone,
       count(*) FILTER (WHERE answered_in_time AND channel = 'onsite') AS onsite_in_time,
       count(*) FILTER (WHERE channel = 'onsite') AS onsite,
       count(*) FILTER (WHERE answered_in_time AND channel = 'online') AS online_in_time,
       count(*) FILTER (WHERE channel = 'online') AS online
FROM enquiries
WHERE taken_at >= $1 AND taken_at < $2 AND status <> 'converted'
  AND ($3::text IS NULL OR department = $3)
"""

_FEEDBACK = """
SELECT count(*) FILTER (WHERE kind = 'praise' AND received_at >= $1 AND received_at < $2)
           AS praise,
       count(*) FILTER (WHERE kind = 'suggestion' AND received_at >= $1 AND received_at < $2)
           AS suggestions,
       count(*) FILTER (WHERE answered_at >= $1 AND answered_at < $2 AND outcome = 'adopted')
           AS adopted,
       count(*) FILTER (WHERE answered_at >= $1 AND answered_at < $2) AS answered,
       (SELECT count(*) FROM complaint_cases c
         WHERE c.opened_seen AND c.opened_at >= $1 AND c.opened_at < $2
           AND ($3::text IS NULL OR c.department = $3)) AS complaints
FROM feedback
WHERE ($3::text IS NULL OR department = $3)
"""


# Answers about one aspect (registration 挂号, guidance staff 导医) in the period, from calls
# and surveys alike (surveys.py); a call's single overall answer is not about registration.
_ASPECTS = """
SELECT count(*) FILTER (WHERE aspect = $4 AND rating = 'dissatisfied') AS registration_dissatisfied,
       count(*) FILTER (WHERE aspect = $4) AS registration_answers,
       count(*) FILTER (WHERE aspect = 'guidance' AND rating = 'dissatisfied')
           AS guidance_dissatisfied,
       count(*) FILTER (WHERE aspect = 'guidance') AS guidance_answers
FROM aspect_answers
WHERE answered_at >= $1 AND answered_at < $2 AND ($3::text IS NULL OR department = $3)
"""


async def aspect_counts(
    conn: asyncpg.Connection, window: Window, *, department: str | None, registration_aspect: str
) -> dict[str, tuple[int, int]]:
    """The dissatisfaction KPIs by aspect: key -> (numerator, denominator)."""
    a = await conn.fetchrow(_ASPECTS, window.start, window.end, department, registration_aspect)
    assert a is not None
    return {
        "registration_dissatisfaction_rate": (
            a["registration_dissatisfied"],
            a["registration_answers"],
        ),
        "guidance_dissatisfaction_rate": (a["guidance_dissatisfied"], a["guidance_answers"]),
    }


async def enquiry_and_feedback_counts(
    conn: asyncpg.Connection, window: Window, *, department: str | None
) -> dict[str, tuple[int, int]]:
    """The enquiry and feedback KPIs: key -> (numerator, denominator)."""
    span = (window.start, window.end, department)
    q = await conn.fetchrow(_ENQUIRIES, *span)
    f = await conn.fetchrow(_FEEDBACK, *span)
    assert q is not None and f is not None
    received = f["praise"] + f["suggestions"] + f["complaints"]
    return {
        "enquiry_answered_in_time_rate": (q["in_time"], q["enquiries"]),
        **{
            f"enquiry_answered_in_time_rate_{c}": (q[f"{c}_in_time"], q[c])
            for c in ("phone", "onsite", "online")
        },
        "praise_share": (f["praise"], received),
        "suggestion_share": (f["suggestions"], received),
        "suggestion_adoption_rate": (f["adopted"], f["answered"]),
    }


async def kpi_counts(
    conn: asyncpg.Connection,
    window: Window,
    *,
    department: str | None,
    excluded_dispositions: list[str],
    registration_aspect: str,
) -> dict[str, tuple[int, int]]:
    """KPI key -> (numerator, denominator) for the cohort of `window`."""
    span = (window.start, window.end, department)
    c = await conn.fetchrow(_COHORTS, *span, excluded_dispositions)
    a = await conn.fetchrow(_ANSWERS, *span, registration_aspect)
    k = await conn.fetchrow(_COMPLAINTS, *span)
    s = await conn.fetchrow(_SMS, *span)
    assert c is not None and a is not None and k is not None and s is not None
    return {
        "followup_inpatient_rate": (c["inpatient_reached"], c["inpatient_total"]),
        "followup_outpatient_rate": (c["outpatient_reached"], c["outpatient_total"]),
        "followup_first_visit_rate": (c["first_reached"], c["first_total"]),
        "satisfaction_rate": (a["positive"], a["answers"]),
        "registration_dissatisfaction_rate": (
            a["registration_dissatisfied"],
            a["registration_answers"],
        ),
        "survey_coverage_rate": (
            c["inpatient_answered"] + c["outpatient_answered"],
            c["inpatient_total"] + c["outpatient_total"],
        ),
        "complaint_first_response_rate": (k["first_response_met"], k["cases"]),
        "complaint_fact_finding_rate": (k["fact_finding_met"], k["fact_finding_cases"]),
        "complaint_handling_satisfaction_rate": (k["handling_satisfied"], k["handling_answers"]),
        "no_show_rate": (c["no_shows"], c["booked"]),
        "sms_delivery_rate": (s["delivered"], s["attempted"]),
        **await enquiry_and_feedback_counts(conn, window, department=department),
        **await aspect_counts(
            conn, window, department=department, registration_aspect=registration_aspect
        ),
    }


async def departments(conn: asyncpg.Connection, window: Window) -> list[str]:
    """Departments with any cohort row in `window`, for the per-department report."""
    rows = await conn.fetch(
        """SELECT department FROM discharges WHERE discharged_at >= $1 AND discharged_at < $2
           UNION SELECT department FROM registrations WHERE visit_at >= $1 AND visit_at < $2
           UNION SELECT department FROM complaint_cases WHERE opened_at >= $1 AND opened_at < $2
           UNION SELECT department FROM satisfaction_answers
                 WHERE answered_at >= $1 AND answered_at < $2
           UNION SELECT department FROM enquiries WHERE taken_at >= $1 AND taken_at < $2
           UNION SELECT department FROM feedback WHERE received_at >= $1 AND received_at < $2
           UNION SELECT department FROM aspect_answers
                 WHERE answered_at >= $1 AND answered_at < $2
           ORDER BY 1""",
        window.start,
        window.end,
    )
    return [r["department"] for r in rows]


async def counter_totals(conn: asyncpg.Connection) -> list[tuple[str, dict[str, str], int]]:
    rows = await conn.fetch("SELECT metric, labels, value FROM counter_totals")
    return [(r["metric"], json.loads(r["labels"]), int(r["value"])) for r in rows]


async def live_gauges(conn: asyncpg.Connection) -> dict[str, list[tuple[dict[str, str], float]]]:
    tasks = await conn.fetch(
        "SELECT department, kind, count(*) AS open,"
        " count(*) FILTER (WHERE due_at < now()) AS overdue"
        " FROM follow_up_tasks WHERE status = 'open' AND planned_at IS NOT NULL"
        " GROUP BY department, kind"
    )
    cases = await conn.fetch(
        "SELECT department, category, count(*) AS open FROM complaint_cases"
        " WHERE status NOT IN ('closed', 'withdrawn') GROUP BY department, category"
    )
    out: dict[str, list[tuple[dict[str, str], Any]]] = {
        "hospital_followup_tasks_open": [
            ({"department": r["department"], "kind": r["kind"]}, r["open"]) for r in tasks
        ],
        "hospital_followup_tasks_overdue_open": [
            ({"department": r["department"], "kind": r["kind"]}, r["overdue"]) for r in tasks
        ],
        "hospital_complaints_open": [
            ({"department": r["department"], "category": r["category"]}, r["open"]) for r in cases
        ],
        # `make backup` records each backup that passed its check (0: none yet)
        "hospital_backup_last_success_timestamp_seconds": [
            (
                {},
                await conn.fetchval(
                    "SELECT coalesce(extract(epoch FROM max(taken_at)), 0)::float8 FROM backups"
                ),
            )
        ],
    }
    return out
