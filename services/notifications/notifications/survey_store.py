"""SQL of survey links and questionnaire versions (see survey_links.py, questionnaires)."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime

import asyncpg

from hospital_shared.questionnaires import ContactKind, Questionnaire, default
from notifications.survey_links import SurveyLink, token_for, token_hash
from notifications.survey_policy import REMINDER


async def insert_links(
    conn: asyncpg.Connection,
    links: Sequence[tuple[SurveyLink, str, str]],
    secret: str,
) -> None:
    """Create each (link, source event id, source event type) once; only the token's hash is
    kept. One statement for the batch's links (row by row, they were a tenth of a drain's
    PostgreSQL CPU)."""
    if not links:
        return
    rows = [_link_row(link, event_id, event_type, secret) for link, event_id, event_type in links]
    await conn.execute(
        "INSERT INTO survey_links (link_id, token_hash, patient_id, contact_ref, contact_kind,"
        " department_code, case_cycle, source_event_id, source_event_type, expires_at,"
        " reminder_due_at, reminder_key)"
        " SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $5::text[],"
        " $6::text[], $7::int[], $8::text[], $9::text[], $10::timestamptz[],"
        " $11::timestamptz[], $12::text[])"
        " ON CONFLICT (link_id) DO NOTHING",
        *(list(column) for column in zip(*rows, strict=True)),
    )


def _link_row(link: SurveyLink, event_id: str, event_type: str, secret: str) -> tuple[object, ...]:
    hashed = token_hash(token_for(secret, link.link_id))
    return (
        link.link_id, hashed, link.patient_id, link.contact_ref, link.contact_kind,
        link.department_code, link.case_cycle, event_id, event_type, link.expires_at,
        link.reminder_due_at, link.reminder_key,
    )  # fmt: skip


async def token_hashes(conn: asyncpg.Connection, link_ids: list[str]) -> dict[str, bytes]:
    """The stored token hash of each of these links (those that exist)."""
    rows = await conn.fetch(
        "SELECT link_id, token_hash FROM survey_links WHERE link_id = ANY($1::text[])", link_ids
    )
    return {r["link_id"]: r["token_hash"] for r in rows}


async def find_link(conn: asyncpg.Connection, hashed: bytes) -> asyncpg.Record | None:
    """The link, with `deceased`: whether its patient has been reported deceased since."""
    return await conn.fetchrow(
        "SELECT l.*, coalesce(p.deceased, false) AS deceased FROM survey_links l"
        " LEFT JOIN patients p ON p.patient_id = l.patient_id WHERE l.token_hash = $1",
        hashed,
    )


async def claim_answer(
    conn: asyncpg.Connection, hashed: bytes, *, version: int, now: datetime
) -> asyncpg.Record | None:
    """Mark the link answered, if it is still open (and its patient not reported deceased
    meanwhile): of any number of submissions at once, exactly one gets the row (the others
    None)."""
    return await conn.fetchrow(
        "UPDATE survey_links SET answered_at = $2, questionnaire_version = $3"
        " WHERE token_hash = $1 AND answered_at IS NULL AND expires_at > $2"
        " AND NOT EXISTS (SELECT 1 FROM patients p"
        "                 WHERE p.patient_id = survey_links.patient_id AND p.deceased)"
        " RETURNING *",
        hashed, now, version,
    )  # fmt: skip


async def withdraw_reminder(conn: asyncpg.Connection, link: asyncpg.Record, now: datetime) -> None:
    """The survey is answered: the reminders of its contact not made yet are not made (every
    link of the visit or discharge made before now: the invitation's, the one after an
    unreachable call), and a reminder made and still waiting is not sent. The links first:
    their row locks wait for a reminder job holding them, so the messages' UPDATE after it
    sees the reminder that job made."""
    await conn.execute(
        "UPDATE survey_links SET reminder_due_at = NULL WHERE contact_ref = $1"
        " AND reminder_due_at IS NOT NULL AND patient_id = $2 AND created_at <= $3",
        link["contact_ref"], link["patient_id"], now,
    )  # fmt: skip
    await conn.execute(
        "UPDATE messages SET status = 'withdrawn', status_reason = 'survey_answered',"
        " finished_at = $3, updated_at = $3 WHERE subject_ref = $1 AND template = $2 AND status = 'pending'"
        " AND patient_id = $4",
        link["contact_ref"], REMINDER, now, link["patient_id"],
    )  # fmt: skip


async def drop_reminders(
    conn: asyncpg.Connection, contact_refs: Collection[str], patient_ids: Collection[str] = ()
) -> None:
    """Visits or discharges withdrawn (`contact_refs`), patients reported dead
    (`patient_ids`): their reminders not made yet are never made, as the planned ones were
    withdrawn for good (a death taken back did not bring them back). Run before the
    withdrawal's UPDATE of the messages, for the reason `withdraw_reminder` gives."""
    if contact_refs:
        await conn.execute(
            "UPDATE survey_links SET reminder_due_at = NULL"
            " WHERE contact_ref = ANY($1::text[]) AND reminder_due_at IS NOT NULL",
            list(contact_refs),
        )
    if patient_ids:
        await conn.execute(
            "UPDATE survey_links SET reminder_due_at = NULL"
            " WHERE patient_id = ANY($1::text[]) AND reminder_due_at IS NOT NULL",
            list(patient_ids),
        )


async def current_questionnaire(conn: asyncpg.Connection, kind: ContactKind) -> Questionnaire:
    """The latest saved version of `kind`, else the packaged one."""
    row = await conn.fetchrow(
        "SELECT body FROM questionnaires WHERE kind = $1 ORDER BY version DESC LIMIT 1",
        kind.value,
    )
    return Questionnaire.model_validate(json.loads(row["body"])) if row else default(kind)


async def questionnaire_version(
    conn: asyncpg.Connection, kind: ContactKind, version: int
) -> Questionnaire | None:
    """A given version of `kind`: a saved one, or the packaged one it started from."""
    row = await conn.fetchrow(
        "SELECT body FROM questionnaires WHERE kind = $1 AND version = $2", kind.value, version
    )
    if row is not None:
        return Questionnaire.model_validate(json.loads(row["body"]))
    packaged = default(kind)
    return packaged if packaged.version == version else None


class ChangedMeanwhile(Exception):
    """Another version than the one a draft was edited from is in force."""

    def __init__(self, in_force: int) -> None:
        super().__init__(f"version {in_force} is in force")
        self.in_force = in_force


async def save_questionnaire(
    conn: asyncpg.Connection, draft: Questionnaire, *, saved_by: str, base: int | None = None
) -> Questionnaire:
    """Save `draft` as the next version of its kind (versions are never changed); when it was
    edited from version `base`, only if that is still the one in force (`ChangedMeanwhile`)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('questionnaire:' || $1))", draft.kind.value
    )
    latest = await current_questionnaire(conn, draft.kind)
    if base is not None and latest.version != base:
        raise ChangedMeanwhile(latest.version)
    saved = draft.model_copy(update={"version": latest.version + 1})
    await conn.execute(
        "INSERT INTO questionnaires (kind, version, body, saved_by) VALUES ($1, $2, $3, $4)",
        saved.kind.value, saved.version, saved.model_dump_json(), saved_by,
    )  # fmt: skip
    return saved
