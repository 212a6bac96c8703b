"""SQL of the KPI store's reads: cohort counts for the KPI report, and the live totals and
gauges the Prometheus collector serves."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import asyncpg

from hospital_shared.time_limits import past_due_sql
from hospital_shared.vocabulary import CLOCKED_CASE_LIMITS, CaseLimit, EnquiryChannel
from metrics.domain import served_total
from metrics.kpi import KPIS, Counts, KpiDefinition, Window
from metrics.procedure import procedure_counts
from metrics.settings import Settings

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

# A visit's follow-up window is closed when every primary task planned from it is closed
# (done, unreachable, withdrawn), or at the latest due time of those tasks; a visit with no
# task seen closes `followup_window_days` ($7) after it. $5 is now; $6 the quality-check kinds.
# Its survey may be answered until `survey_window_days` ($8) after it (_SURVEY_OPEN).
_CLOSED = (
    """(SELECT CASE WHEN count(*) > 0 AND count(*) FILTER (WHERE t.status = 'open') = 0
        THEN true ELSE """
    + past_due_sql(
        "coalesce(max(t.due_at), {v}.{at} + $7::float8 * interval '1 day')", "$5::timestamptz"
    )
    + """ END
    FROM follow_up_tasks t
    WHERE (t.source_event_id = {v}.event_id OR t.source_ref = {v}.{ref})
      AND NOT (t.kind = ANY($6::text[])))"""
)
_SURVEY_OPEN = "{v}.{at} + $8::float8 * interval '1 day' > $5::timestamptz"

_COHORTS = f"""
WITH inpatient AS (
    SELECT d.*, {_REACHED.format(v="d", ref="admission_id")} AS reached,
           {_ANSWERED.format(v="d", ref="admission_id", kind="admission")} AS answered,
           {_CLOSED.format(v="d", ref="admission_id", at="discharged_at")} AS closed,
           {_SURVEY_OPEN.format(v="d", at="discharged_at")} AS survey_open
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
           {_ANSWERED.format(v="r", ref="registration_id", kind="registration")} AS answered,
           {_CLOSED.format(v="r", ref="registration_id", at="visit_at")} AS closed,
           {_SURVEY_OPEN.format(v="r", at="visit_at")} AS survey_open
    FROM booked r WHERE NOT r.no_show
)
SELECT
    (SELECT count(*) FILTER (WHERE reached) FROM inpatient) AS inpatient_reached,
    (SELECT count(*) FROM inpatient) AS inpatient_total,
    (SELECT count(*) FILTER (WHERE NOT reached AND NOT closed) FROM inpatient)
        AS inpatient_pending,
    (SELECT count(*) FILTER (WHERE answered) FROM inpatient) AS inpatient_answered,
    (SELECT count(*) FILTER (WHERE NOT answered AND (survey_open OR NOT closed)) FROM inpatient)
        AS inpatient_answer_pending,
    (SELECT count(*) FILTER (WHERE reached) FROM outpatient) AS outpatient_reached,
    (SELECT count(*) FROM outpatient) AS outpatient_total,
    (SELECT count(*) FILTER (WHERE NOT reached AND NOT closed) FROM outpatient)
        AS outpatient_pending,
    (SELECT count(*) FILTER (WHERE answered) FROM outpatient) AS outpatient_answered,
    (SELECT count(*) FILTER (WHERE NOT answered AND (survey_open OR NOT closed)) FROM outpatient)
        AS outpatient_answer_pending,
    (SELECT count(*) FILTER (WHERE reached AND visit_type = 'first') FROM outpatient)
        AS first_reached,
    (SELECT count(*) FILTER (WHERE visit_type = 'first') FROM outpatient) AS first_total,
    (SELECT count(*) FILTER (WHERE visit_type = 'first' AND NOT reached AND NOT closed)
        FROM outpatient) AS first_pending,
    (SELECT count(*) FILTER (WHERE no_show) FROM booked) AS no_shows,
    (SELECT count(*) FROM booked) AS booked,
    (SELECT count(*) FILTER (WHERE visit_at > $5 AND NOT no_show) FROM booked) AS booked_pending
"""

# One answer per patient contact: a visit or discharge (a call planned from it, found by the
# planning event or the task's source_ref, or its survey by SMS link, `contact_ref`
# `admission:<id>` / `registration:<id>`), or a call of another kind on its own. A call's answer is its overall one, else its first; a survey's likewise
# (its rated answers, aspect_answers). A contact counts in the period of its first answer,
# call or survey, never both: answers up to $5 days before the period are read to find it
# (a survey link lives 7 days, a call's window a few). Quality checks ($4: spot checks, second calls) are each their
# own contact and counted apart; the complaint satisfaction check is not a patient's.
_CONTACT_ANSWERS = """
WITH calls AS (
    SELECT DISTINCT ON (a.task_id) a.kind, a.answered_at, a.event_id AS id,
           CASE WHEN a.kind = ANY($4::text[]) THEN 'task:' || a.task_id
           ELSE coalesce(
               'admission:' || coalesce(
                   (SELECT d.admission_id FROM discharges d WHERE d.event_id = t.source_event_id),
                   CASE WHEN a.kind = 'inpatient_discharge' THEN t.source_ref END),
               'registration:' || coalesce(
                   (SELECT r.registration_id FROM registrations r
                     WHERE r.event_id = t.source_event_id),
                   CASE WHEN a.kind = 'outpatient_visit' THEN t.source_ref END),
               'task:' || a.task_id) END AS contact,
           a.rating IN ('satisfied', 'fairly_satisfied') AS positive
    FROM satisfaction_answers a LEFT JOIN follow_up_tasks t USING (task_id)
    WHERE a.answered_at >= $1::timestamptz - $5::float8 * interval '1 day' AND a.answered_at < $2
      AND ($3::text IS NULL OR a.department = $3)
    ORDER BY a.task_id, (a.aspect <> 'overall'), a.answered_at, a.event_id
), surveys AS (
    SELECT DISTINCT ON (s.survey_id) 'survey' AS kind, s.answered_at, s.survey_id AS id,
           s.contact_ref AS contact, x.rating IN ('satisfied', 'fairly_satisfied') AS positive
    FROM surveys_answered s
    JOIN aspect_answers x ON x.source_id = s.survey_id AND x.channel = 'sms_link'
    WHERE s.answered_at >= $1::timestamptz - $5::float8 * interval '1 day' AND s.answered_at < $2
      AND ($3::text IS NULL OR s.department = $3) AND s.contact_kind <> 'complaint_check'
    ORDER BY s.survey_id, (x.aspect <> 'overall'), x.question_id
), first AS (
    SELECT DISTINCT ON (contact) kind, positive, answered_at
    FROM (SELECT * FROM calls UNION ALL SELECT * FROM surveys) AS answered
    ORDER BY contact, answered_at, id
), contact AS (
    SELECT kind, positive FROM first WHERE answered_at >= $1
)
SELECT count(*) FILTER (WHERE positive AND NOT (kind = ANY($4::text[]))) AS positive,
       count(*) FILTER (WHERE NOT (kind = ANY($4::text[]))) AS answers,
       count(*) FILTER (WHERE positive AND kind = 'spot_check') AS spot_positive,
       count(*) FILTER (WHERE kind = 'spot_check') AS spot_answers,
       count(*) FILTER (WHERE positive AND kind = 'second_call') AS second_positive,
       count(*) FILTER (WHERE kind = 'second_call') AS second_answers
FROM contact
"""


def _clock_columns(limit: str, *, first: bool) -> str:
    """met / missed / pending counts of one time limit over the cases (`clock_outcome`):
    met by its outcome (and, but for the first response, no breach); missed once settled
    otherwise (an outcome, a breach) or past due ($4 is now); pending else. The first
    response applies to every case (due `$5` hours after opening when no due time came);
    the others to cases that carry the limit (not withdrawn from it)."""
    met = f"{limit}_outcome = 'met'"
    if not first:
        met += f" AND NOT ('{limit}' = ANY(breached_limits))"
    due = (
        f"coalesce({limit}_due_at, opened_at + $5::float8 * interval '1 hour')"
        if first
        else f"{limit}_due_at"
    )
    member = (
        "true"
        if first
        else (
            f"({limit}_due_at IS NOT NULL OR {limit}_outcome IS NOT NULL"
            f" OR '{limit}' = ANY(breached_limits)) AND {limit}_outcome IS DISTINCT FROM 'withdrawn'"
        )
    )
    past = past_due_sql(due, "$4::timestamptz")
    settled = f"({limit}_outcome IS NOT NULL OR '{limit}' = ANY(breached_limits) OR {past})"
    return (
        f"count(*) FILTER (WHERE {member} AND coalesce({met}, false)) AS {limit}_met,"
        f" count(*) FILTER (WHERE {member} AND NOT coalesce({met}, false) AND {settled})"
        f" AS {limit}_missed,"
        f" count(*) FILTER (WHERE {member} AND NOT coalesce({met}, false) AND NOT {settled})"
        f" AS {limit}_pending"
    )


CASE_LIMITS = tuple(limit.value for limit in CLOCKED_CASE_LIMITS)

_COMPLAINTS = f"""
SELECT {", ".join(_clock_columns(limit, first=limit == CaseLimit.FIRST_RESPONSE) for limit in CASE_LIMITS)},
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
           AS attempted,
       count(*) FILTER (WHERE statuses && ARRAY['submitted']
           AND NOT (statuses && ARRAY['delivered', 'failed', 'expired'])
           AND created_at > $4::timestamptz - $5::float8 * interval '1 hour') AS pending
FROM sms_messages
WHERE created_at >= $1 AND created_at < $2 AND ($3::text IS NULL OR department = $3)
"""


# Enquiries taken in the period (not turned into complaints), answered within their limit;
# praise, suggestions and complaint cases received in the period; suggestions answered in it.
_ENQUIRY_CHANNELS = tuple(c.value for c in EnquiryChannel)
# An unanswered enquiry is pending until its due time has passed ($4 is now), then missed.
_OPEN = f"NOT {past_due_sql('due_at', '$4')}"
_ENQUIRIES = f"""
SELECT count(*) FILTER (WHERE answered_in_time) AS in_time,
       count(*) AS enquiries,
       count(*) FILTER (WHERE answered_in_time IS NULL AND {_OPEN}) AS pending,
       {
    ", ".join(
        f"count(*) FILTER (WHERE answered_in_time AND channel = '{c}') AS {c}_in_time,"
        f" count(*) FILTER (WHERE channel = '{c}') AS {c},"
        f" count(*) FILTER (WHERE channel = '{c}' AND answered_in_time IS NULL"
        f" AND {_OPEN}) AS {c}_pending"
        for c in _ENQUIRY_CHANNELS
    )
}
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


def _matured(met: int, total: int, pending: int) -> Counts:
    """(met, matured, pending) of a cohort of `total` members, `pending` of them not settled."""
    return (met, total - pending, pending)


# Answers about one aspect (registration 挂号, guidance staff 导医) in the period, from calls
# and surveys alike (surveys.py); a call's single overall answer is not about registration.
# A quality-check call's answers (抽查, 二次回访: `quality_check_kinds`) are not patients'
# answers about their visit: counted, they asked a dissatisfied patient again and counted
# them twice.
_ASPECTS = """
SELECT count(*) FILTER (WHERE aspect = $4 AND rating = 'dissatisfied') AS registration_dissatisfied,
       count(*) FILTER (WHERE aspect = $4) AS registration_answers,
       count(*) FILTER (WHERE aspect = 'guidance' AND rating = 'dissatisfied')
           AS guidance_dissatisfied,
       count(*) FILTER (WHERE aspect = 'guidance') AS guidance_answers
FROM aspect_answers
WHERE answered_at >= $1 AND answered_at < $2 AND ($3::text IS NULL OR department = $3)
  AND NOT (kind = ANY($5::text[]))
"""


async def aspect_counts(
    conn: asyncpg.Connection,
    window: Window,
    *,
    department: str | None,
    registration_aspect: str,
    quality_check_kinds: list[str],
) -> dict[str, tuple[int, int]]:
    """The dissatisfaction KPIs by aspect: key -> (numerator, denominator)."""
    a = await conn.fetchrow(
        _ASPECTS, window.start, window.end, department, registration_aspect, quality_check_kinds
    )
    assert a is not None
    return {
        "registration_dissatisfaction_rate": (
            a["registration_dissatisfied"],
            a["registration_answers"],
        ),
        "guidance_dissatisfaction_rate": (a["guidance_dissatisfied"], a["guidance_answers"]),
    }


async def enquiry_and_feedback_counts(
    conn: asyncpg.Connection, window: Window, *, department: str | None, now: datetime
) -> dict[str, Counts]:
    """The enquiry and feedback KPIs: key -> (numerator, denominator[, pending])."""
    span = (window.start, window.end, department)
    q = await conn.fetchrow(_ENQUIRIES, *span, now)
    f = await conn.fetchrow(_FEEDBACK, *span)
    assert q is not None and f is not None
    received = f["praise"] + f["suggestions"] + f["complaints"]
    return {
        "enquiry_answered_in_time_rate": _matured(q["in_time"], q["enquiries"], q["pending"]),
        **{
            f"enquiry_answered_in_time_rate_{c}": _matured(
                q[f"{c}_in_time"], q[c], q[f"{c}_pending"]
            )
            for c in _ENQUIRY_CHANNELS
        },
        "praise_share": (f["praise"], received),
        "suggestion_share": (f["suggestions"], received),
        "suggestion_adoption_rate": (f["adopted"], f["answered"]),
    }


@dataclass(frozen=True, slots=True)
class KpiQuery:
    """What a KPI read needs besides the window and department: the settings' rules and the
    instant that decides what has matured."""

    now: datetime
    # the rest are the settings of the same names
    followup_excluded_dispositions: list[str]
    registration_aspect: str
    quality_check_kinds: list[str]
    followup_window_days: float
    survey_window_days: float
    satisfaction_lookback_days: float
    complaint_first_response_hours: float
    sms_delivery_window_hours: float

    @classmethod
    def of(cls, settings: Settings, now: datetime) -> KpiQuery:
        names = [f.name for f in fields(cls) if f.name != "now"]
        return cls(now=now, **{name: getattr(settings, name) for name in names})


async def _row(
    conn: asyncpg.Connection, sql: str, window: Window, department: str | None, *more: Any
) -> asyncpg.Record:
    """The one row of a count query over ($1, $2) = `window`, $3 = `department`, then `more`."""
    row = await conn.fetchrow(sql, window.start, window.end, department, *more)
    assert row is not None
    return row


async def _followup(
    conn: asyncpg.Connection, window: Window, department: str | None, query: KpiQuery
) -> dict[str, Counts]:
    """The visit cohorts: follow-up reach, survey coverage (either channel), no-shows."""
    c = await _row(
        conn,
        _COHORTS,
        window,
        department,
        query.followup_excluded_dispositions,
        query.now,
        query.quality_check_kinds,
        query.followup_window_days,
        query.survey_window_days,
    )
    return {
        "followup_inpatient_rate": _matured(
            c["inpatient_reached"], c["inpatient_total"], c["inpatient_pending"]
        ),
        "followup_outpatient_rate": _matured(
            c["outpatient_reached"], c["outpatient_total"], c["outpatient_pending"]
        ),
        "followup_first_visit_rate": _matured(
            c["first_reached"], c["first_total"], c["first_pending"]
        ),
        "survey_coverage_rate": _matured(
            c["inpatient_answered"] + c["outpatient_answered"],
            c["inpatient_total"] + c["outpatient_total"],
            c["inpatient_answer_pending"] + c["outpatient_answer_pending"],
        ),
        "no_show_rate": _matured(c["no_shows"], c["booked"], c["booked_pending"]),
    }


async def _answers(
    conn: asyncpg.Connection, window: Window, department: str | None, query: KpiQuery
) -> dict[str, Counts]:
    """Satisfaction: one answer per patient contact; the quality checks apart."""
    p = await _row(
        conn,
        _CONTACT_ANSWERS,
        window,
        department,
        query.quality_check_kinds,
        query.satisfaction_lookback_days,
    )
    return {
        "satisfaction_rate": (p["positive"], p["answers"]),
        "spot_check_satisfaction_rate": (p["spot_positive"], p["spot_answers"]),
        "second_call_satisfaction_rate": (p["second_positive"], p["second_answers"]),
    }


async def _complaints(
    conn: asyncpg.Connection, window: Window, department: str | None, query: KpiQuery
) -> dict[str, Counts]:
    k = await _row(
        conn, _COMPLAINTS, window, department, query.now, query.complaint_first_response_hours
    )
    return {
        **_complaint_clocks(k),
        "complaint_handling_satisfaction_rate": (k["handling_satisfied"], k["handling_answers"]),
    }


async def _sms(
    conn: asyncpg.Connection, window: Window, department: str | None, query: KpiQuery
) -> dict[str, Counts]:
    s = await _row(conn, _SMS, window, department, query.now, query.sms_delivery_window_hours)
    return {"sms_delivery_rate": _matured(s["delivered"], s["attempted"], s["pending"])}


Source = Callable[
    [asyncpg.Connection, Window, "str | None", KpiQuery], Awaitable[Mapping[str, Counts]]
]

# KpiDefinition.query -> the reader that computes the KPIs naming it.
SOURCES: dict[str, Source] = {
    "followup": _followup,
    "answers": _answers,
    "complaints": _complaints,
    "sms": _sms,
    "enquiries": lambda conn, w, d, q: enquiry_and_feedback_counts(
        conn, w, department=d, now=q.now
    ),
    "procedure": lambda conn, w, d, q: procedure_counts(conn, w, department=d),
    "aspects": lambda conn, w, d, q: aspect_counts(
        conn,
        w,
        department=d,
        registration_aspect=q.registration_aspect,
        quality_check_kinds=q.quality_check_kinds,
    ),
}


class KpiWithoutQuery(RuntimeError):
    """A KPI defined without a source that computes it: it would report 0/0 forever."""


def check(definitions: Iterable[KpiDefinition] | None = None) -> None:
    """Every KPI (of the catalog, by default) names a known count source: run when the app
    is built and in a test, so a KPI added without its query never starts."""
    unknown = sorted(
        f"{d.key} ({d.query!r})" for d in definitions or KPIS if d.query not in SOURCES
    )
    if unknown:
        raise KpiWithoutQuery(f"KPIs without a query in queries.SOURCES: {', '.join(unknown)}")


async def kpi_counts(
    conn: asyncpg.Connection,
    window: Window,
    *,
    department: str | None,
    query: KpiQuery,
    definitions: Iterable[KpiDefinition] | None = None,
) -> dict[str, Counts]:
    """KPI key -> (numerator, matured denominator[, pending]) for the cohort of `window`,
    every KPI from the source its definition names; one that the source leaves out raises
    rather than reading 0/0."""
    definitions = list(definitions or KPIS)
    check(definitions)
    wanted: dict[str, set[str]] = {}
    for d in definitions:
        wanted.setdefault(d.query, set()).add(d.key)
    counts: dict[str, Counts] = {}
    for name, keys in wanted.items():
        got = await SOURCES[name](conn, window, department, query)
        if missing := keys - got.keys():
            raise KpiWithoutQuery(f"source {name!r} computes no {sorted(missing)}")
        counts |= {key: got[key] for key in keys}
    return counts


_CLOCK_KPIS = {
    "complaint_first_response_rate": CaseLimit.FIRST_RESPONSE,
    "complaint_fact_finding_rate": CaseLimit.FACT_FINDING,
    "complaint_complex_answer_rate": CaseLimit.COMPLEX_ANSWER,
    "imaging_dispute_confirmation_rate": CaseLimit.IMAGING_CONFIRMATION,
}


def _complaint_clocks(k: asyncpg.Record) -> dict[str, Counts]:
    return {
        key: (k[f"{limit}_met"], k[f"{limit}_met"] + k[f"{limit}_missed"], k[f"{limit}_pending"])
        for key, limit in _CLOCK_KPIS.items()
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


async def counter_totals(
    conn: asyncpg.Connection, *, zero_for_s: float = 0.0
) -> list[tuple[str, dict[str, str], int]]:
    """Every counter series with its total; a series that first appeared less than
    `zero_for_s` seconds ago is served at 0 (`domain.served_total`)."""
    rows = await conn.fetch(
        "SELECT metric, labels, value,"
        " extract(epoch FROM now() - created_at)::float8 AS age_s FROM counter_totals"
    )
    return [
        (
            r["metric"],
            json.loads(r["labels"]),
            served_total(int(r["value"]), r["age_s"], zero_for_s),
        )
        for r in rows
    ]


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
