"""Encryption at rest on the real stack (complaints service): a case's phone and description, an
enquiry's question, a suggestion's text and the free text of a case's audit trail (the validity
reason, a step's note, the patient's satisfaction comment) are unreadable in a raw `pg_dump`
of their tables; the service reads them back through its API; a value written before encryption is sealed by
the background re-seal job; after a key rotation every record stays readable and the job
moves them all to the new key, after which the old key can go."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from hospital_shared.field_crypto import DEV_ENCRYPTION_KEY
from tests.integration.services import RunningService, running
from tests.kafka_tools import eventually

RUN = uuid.uuid4().hex[:8].upper()
NEW_KEY = f"rot-{RUN}:" + base64.b64encode(uuid.uuid4().bytes * 2).decode()
DESK = {"Authorization": "Bearer dev-supervisor-token"}  # the complaint desk's supervisor
DESCRIPTION = f"护士把我父亲的化验单弄丢了 {RUN}"
QUESTION = f"我母亲的出院小结什么时候能拿到 {RUN}"
SUGGESTION = f"希望儿科候诊区多放几把椅子 {RUN}"
# The audit trail's free text (case_audit.detail), written by the procedure's steps.
REASON = f"化验单在检验科找到，未丢失 {RUN}"
NOTE = f"已向患者父亲当面解释并归还化验单 {RUN}"
COMMENT = f"护士态度很好，谢谢 {RUN}"
LEGACY = f"加密之前写下的备注 {RUN}"  # an audit line from before encryption
# table -> (number column, sealed columns)
TABLES = {
    "cases": ("case_number", ("patient_phone", "description")),
    "enquiries": ("enquiry_number", ("patient_phone", "question")),
    "feedback": ("feedback_number", ("patient_phone", "text")),
}
AUDIT_TEXT = ("note", "comment")  # the keys of case_audit.detail that hold free text


@pytest.fixture(scope="module")
def complaints(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "complaints", {"DATA_RESEAL_INTERVAL_S": "0.5"}) as service:
        yield service


def phone_of(n: int) -> str:
    return f"136{n:08d}"


@pytest.fixture(scope="module")
async def records(complaints: RunningService) -> dict[str, Any]:
    """One case, one enquiry and one suggestion, each with its own patient phone."""
    n = uuid.uuid4().int % 10**8
    patient = {"patient_id": f"P-EN{RUN}", "name": "赵六"}
    async with httpx.AsyncClient(base_url=complaints.url, timeout=10) as api:
        case = await api.post("/v1/cases", headers=DESK, json={
            "channel": "phone", "description": DESCRIPTION,
            "patient": {**patient, "phone": phone_of(n)},
            "department": {"code": "CS", "name": "客服中心"},
        })  # fmt: skip
        enquiry = await api.post("/v1/enquiries", headers=DESK, json={
            "channel": "onsite", "question": QUESTION,
            "patient": {**patient, "phone": phone_of(n + 1)},
        })  # fmt: skip
        feedback = await api.post("/v1/feedback", headers=DESK, json={
            "kind": "suggestion", "channel": "suggestion_box", "text": SUGGESTION,
            "category": "environment", "patient": {**patient, "phone": phone_of(n + 2)},
        })  # fmt: skip
    for resp in (case, enquiry, feedback):
        assert resp.status_code == 201, resp.text
    return {
        "cases": (case.json()["case_number"], phone_of(n), DESCRIPTION),
        "enquiries": (enquiry.json()["enquiry_number"], phone_of(n + 1), QUESTION),
        "feedback": (feedback.json()["feedback_number"], phone_of(n + 2), SUGGESTION),
    }


@pytest.fixture(scope="module")
async def audited(complaints: RunningService, records: dict[str, Any]) -> str:
    """The case found unfounded (a reason), closed (a note) and rated (a comment)."""
    number = records["cases"][0]
    steps = [
        ("transitions", {"to": "acknowledged"}),
        ("transitions", {"to": "investigating"}),
        ("validity", {"founded": False, "reason": REASON}),
        ("transitions", {"to": "closed", "note": NOTE}),
        ("satisfaction", {"rating": "satisfied", "comment": COMMENT}),
    ]
    async with httpx.AsyncClient(base_url=complaints.url, timeout=10) as api:
        for what, body in steps:
            resp = await api.post(f"/v1/cases/{number}/{what}", headers=DESK, json=body)
            assert resp.status_code == 200, resp.text
    return str(number)


async def audit_texts(service: RunningService, number: str) -> set[str]:
    """The notes and comments of the case's audit trail, as the API answers."""
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as api:
        resp = await api.get(f"/v1/cases/{number}/audit", headers=DESK)
    assert resp.status_code == 200, resp.text
    details = [line["detail"] for line in resp.json()["audit"]]
    return {d[k] for d in details for k in AUDIT_TEXT if d.get(k) is not None}


async def raw_audit_texts(db: asyncpg.Connection, number: str) -> list[str]:
    """The notes and comments of the case's audit lines as stored."""
    rows = await db.fetch(
        "SELECT a.detail ->> 'note' AS note, a.detail ->> 'comment' AS comment"
        " FROM complaints.case_audit a JOIN complaints.cases c ON c.id = a.case_id"
        " WHERE c.case_number = $1",
        number,
    )
    return [r[k] for r in rows for k in AUDIT_TEXT if r[k] is not None]


async def read_back(service: RunningService, records: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """(phone, text) of each record as the API answers the desk that took them (unmasked)."""
    got: dict[str, tuple[Any, ...]] = {}
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as api:
        for table, (number, _, _) in records.items():
            if table == "feedback":
                resp = await api.get("/v1/feedback", headers=DESK, params={"kind": "suggestion"})
                [body] = [f for f in resp.json()["items"] if f["feedback_number"] == number]
            else:
                resp = await api.get(f"/v1/{table}/{number}", headers=DESK)
                body = resp.json()
            assert resp.status_code == 200, resp.text
            text = body.get("description") or body.get("question") or body.get("text")
            got[table] = (body["patient"]["phone"], text)
    return got


def expected(records: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    # stored as given, answered in E.164
    return {table: (f"+86{phone}", text) for table, (_, phone, text) in records.items()}


async def raw(db: asyncpg.Connection, table: str, number: str) -> asyncpg.Record:
    column, sealed = TABLES[table]
    return await db.fetchrow(
        f"SELECT {', '.join(sealed)} FROM complaints.{table} WHERE {column} = $1", number
    )


async def left_under(db: asyncpg.Connection, kid: str) -> int:
    """Values still under key `kid`, in every sealed table."""
    n = 0
    for table, (_, sealed) in TABLES.items():
        where = " OR ".join(f"starts_with({c}, $1)" for c in sealed)
        n += await db.fetchval(
            f"SELECT count(*) FROM complaints.{table} WHERE {where}", f"enc1:{kid}:"
        )
    where = " OR ".join(f"starts_with(detail ->> '{k}', $1)" for k in AUDIT_TEXT)
    n += await db.fetchval(
        f"SELECT count(*) FROM complaints.case_audit WHERE {where}", f"enc1:{kid}:"
    )
    return n


async def test_sealed_columns_are_unreadable_in_a_raw_dump_and_read_back_through_the_api(
    complaints, records, audited, stack_env, raw_db
) -> None:  # type: ignore[no-untyped-def]
    for table, (number, _, _) in records.items():
        row = await raw(raw_db, table, number)
        assert all(value.startswith("enc1:dev1:") for value in row.values()), table
    stored = await raw_audit_texts(raw_db, audited)
    assert len(stored) == 3 and all(v.startswith("enc1:dev1:") for v in stored), stored
    dump = (await asyncio.to_thread(
        subprocess.run,
        ["/usr/lib/postgresql/15/bin/pg_dump", "--data-only", "--table=complaints.cases",
         "--table=complaints.enquiries", "--table=complaints.feedback",
         "--table=complaints.case_audit", stack_env["DATABASE_URL"]],
        capture_output=True, text=True, check=True,
    )).stdout  # fmt: skip
    for table, (number, phone, text) in records.items():
        assert number in dump, table
        assert phone not in dump and text not in dump, table
    assert "satisfaction_recorded" in dump  # the audit's actions stay readable, its text not
    assert not [text for text in (REASON, NOTE, COMMENT) if text in dump]
    assert await read_back(complaints, records) == expected(records)
    assert await audit_texts(complaints, audited) == {REASON, NOTE, COMMENT}


async def test_the_append_only_audit_lets_the_reseal_change_its_sealed_text_and_nothing_else(
    audited, raw_db
) -> None:  # type: ignore[no-untyped-def]
    """Outside complaints.resealing every UPDATE is refused; inside, one that changes an action
    or puts other ciphertext in a note is refused too (migration 351)."""
    line = "(SELECT id FROM complaints.case_audit WHERE detail ->> 'note' IS NOT NULL AND case_id"
    line += " = (SELECT id FROM complaints.cases WHERE case_number = $1) LIMIT 1)"
    other = (await raw_audit_texts(raw_db, audited))[0]
    changes = [
        ("SET detail = detail", False),
        ("SET action = 'x'", True),
        ("SET detail = jsonb_set(detail, '{note}', to_jsonb($2::text))", True),
        ("SET detail = jsonb_set(detail, '{note}', '\"clear\"')", True),
    ]
    for change, resealing in changes:
        async with raw_db.transaction():
            if resealing:
                await raw_db.execute("SET LOCAL complaints.resealing = 'on'")
            sql = f"UPDATE complaints.case_audit {change} WHERE id = {line}"
            args = (audited, other[:-4] + "AAAA") if "$2" in sql else (audited,)
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await raw_db.execute(sql, *args)


async def test_values_from_before_encryption_are_sealed_by_the_reseal_job(
    complaints, records, raw_db
) -> None:  # type: ignore[no-untyped-def]
    for table, (number, phone, text) in records.items():
        column, (phone_col, text_col) = TABLES[table]
        await raw_db.execute(
            f"UPDATE complaints.{table} SET {phone_col} = $2, {text_col} = $3 WHERE {column} = $1",
            number, phone, text,
        )  # fmt: skip

    await raw_db.execute(
        "INSERT INTO complaints.case_audit (case_id, actor_id, actor_role, action, detail)"
        " SELECT id, 'S-SUP-01', 'supervisor', 'note_added', jsonb_build_object('note', $2::text)"
        " FROM complaints.cases WHERE case_number = $1",
        records["cases"][0], LEGACY,
    )  # fmt: skip

    async def all_sealed() -> bool:
        rows = [await raw(raw_db, t, number) for t, (number, _, _) in records.items()]
        audit = await raw_audit_texts(raw_db, records["cases"][0])
        values = [v for row in rows for v in row.values()] + audit
        return all(v.startswith("enc1:dev1:") for v in values)

    assert await eventually(all_sealed, timeout=30, interval=0.3)
    assert await read_back(complaints, records) == expected(records)
    texts = await audit_texts(complaints, records["cases"][0])
    assert texts == {REASON, NOTE, COMMENT, LEGACY}


HANDOVER = f"患者女儿说父亲透析后头晕，需肾内科回答 {RUN}"  # an enquiry's hand-over reason
ACCOUNT = f"未核对患者身份即发放化验单，扣当月绩效 {RUN}"  # an accountability record's detail


async def ok(resp: Any) -> dict[str, Any]:
    response = await resp
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


@pytest.fixture(scope="module")
async def more_texts(complaints: RunningService) -> dict[str, str]:
    """An enquiry handed over with a reason, then made a complaint (its audit copies the
    enquiry's history), and a founded case with an accountability record."""
    agent = {"Authorization": "Bearer dev-agent-token"}
    director = {"Authorization": "Bearer dev-director-token"}
    async with httpx.AsyncClient(base_url=complaints.url, timeout=10) as api:
        enquiry = await ok(api.post("/v1/enquiries", headers=DESK, json={
            "channel": "phone", "question": f"透析后头晕正常吗 {RUN}"}))  # fmt: skip
        number = enquiry["enquiry_number"]
        handed = {"to": "S-AGENT-01", "reason": HANDOVER}
        await ok(api.post(f"/v1/enquiries/{number}/handover", headers=DESK, json=handed))
        converted = await ok(api.post(f"/v1/enquiries/{number}/complaint", headers=agent, json={}))
        case = await ok(api.post("/v1/cases", headers=DESK, json={
            "channel": "onsite", "description": f"化验单发错了人 {RUN}",
            "department": {"code": "CS", "name": "客服中心"}}))  # fmt: skip
        steps = [
            (DESK, "transitions", {"to": "acknowledged"}),
            (DESK, "transitions", {"to": "investigating"}),
            (DESK, "validity", {"founded": True, "reason": "查实"}),
            (DESK, "transitions", {"to": "resolution_proposed", "resolution": "道歉并补发",
                                   "resolution_kind": "apology"}),
            (director, "transitions", {"to": "resolution_approved"}),
            (DESK, "accountability", {"staff_id": "S-AGENT-01", "measure": "fine",
                                      "detail": ACCOUNT}),
        ]  # fmt: skip
        for who, what, body in steps:
            await ok(api.post(f"/v1/cases/{case['case_number']}/{what}", headers=who, json=body))
    return {"enquiry": number, "converted": converted["case"]["case_number"],
            "case": case["case_number"]}  # fmt: skip


async def texts_answered(service: RunningService, numbers: dict[str, str]) -> list[str]:
    """The hand-over reason as the enquiry and the converted case's audit answer it, and the
    accountability record's detail."""
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as api:
        enquiry = await ok(api.get(f"/v1/enquiries/{numbers['enquiry']}", headers=DESK))
        audit = await ok(api.get(f"/v1/cases/{numbers['converted']}/audit", headers=DESK))
        path = f"/v1/cases/{numbers['case']}/accountability"
        [record] = (await ok(api.get(path, headers=DESK)))["accountability"]
    [converted] = [a["detail"] for a in audit["audit"] if a["action"] == "converted_from_enquiry"]
    copied = [h["detail"]["reason"] for h in converted["history"] if "reason" in h["detail"]]
    told = [h["detail"]["reason"] for h in enquiry["history"] if "reason" in h["detail"]]
    return [*told, *copied, record["detail"]]


async def raw_texts(db: asyncpg.Connection, numbers: dict[str, str]) -> list[str]:
    """The same three as stored: the enquiry's history line, the conversion's audit line (its
    whole detail, as text) and the accountability record."""
    told = await db.fetchval(
        "SELECT h.detail ->> 'reason' FROM complaints.enquiry_history h JOIN"
        " complaints.enquiries e ON e.id = h.enquiry_id WHERE e.enquiry_number = $1"
        " AND h.detail ? 'reason'",
        numbers["enquiry"],
    )
    copied = await db.fetchval(
        "SELECT a.detail::text FROM complaints.case_audit a JOIN complaints.cases c"
        " ON c.id = a.case_id WHERE c.case_number = $1 AND a.action = 'converted_from_enquiry'",
        numbers["converted"],
    )
    record = await db.fetchval(
        "SELECT a.detail FROM complaints.case_accountability a JOIN complaints.cases c"
        " ON c.id = a.case_id WHERE c.case_number = $1",
        numbers["case"],
    )
    return [told, copied, record]


async def test_hand_over_reasons_and_accountability_are_sealed_and_read_back(
    complaints, more_texts, stack_env, raw_db
) -> None:  # type: ignore[no-untyped-def]
    told, copied, record = await raw_texts(raw_db, more_texts)
    assert told.startswith("enc1:dev1:") and record.startswith("enc1:dev1:")
    assert HANDOVER not in copied and "enc1:dev1:" in copied
    dump = (await asyncio.to_thread(
        subprocess.run,
        ["/usr/lib/postgresql/15/bin/pg_dump", "--data-only", "--table=complaints.enquiry_history",
         "--table=complaints.case_audit", "--table=complaints.case_accountability",
         stack_env["DATABASE_URL"]],
        capture_output=True, text=True, check=True,
    )).stdout  # fmt: skip
    assert HANDOVER not in dump and ACCOUNT not in dump
    assert await texts_answered(complaints, more_texts) == [HANDOVER, HANDOVER, ACCOUNT]


async def test_hand_over_reasons_and_accountability_from_before_are_read_and_resealed(
    complaints, more_texts, raw_db
) -> None:  # type: ignore[no-untyped-def]
    await raw_db.execute(
        "UPDATE complaints.enquiry_history h SET detail = jsonb_set(detail, '{reason}',"
        " to_jsonb($2::text)) FROM complaints.enquiries e WHERE e.id = h.enquiry_id"
        " AND e.enquiry_number = $1 AND h.detail ? 'reason'",
        more_texts["enquiry"], HANDOVER,
    )  # fmt: skip
    await raw_db.execute(
        "UPDATE complaints.case_accountability a SET detail = $2 FROM complaints.cases c"
        " WHERE c.id = a.case_id AND c.case_number = $1",
        more_texts["case"], ACCOUNT,
    )  # fmt: skip
    assert await texts_answered(complaints, more_texts) == [HANDOVER, HANDOVER, ACCOUNT]

    async def sealed() -> bool:
        told, _, record = await raw_texts(raw_db, more_texts)
        return bool(told.startswith("enc1:dev1:") and record.startswith("enc1:dev1:"))

    assert await eventually(sealed, timeout=30, interval=0.3)
    assert await texts_answered(complaints, more_texts) == [HANDOVER, HANDOVER, ACCOUNT]


async def test_a_key_rotation_keeps_every_record_readable_and_moves_them_to_the_new_key(
    complaints, records, raw_db
) -> None:  # type: ignore[no-untyped-def]
    kid = NEW_KEY.split(":")[0]
    complaints.stop()
    complaints.start(DATA_ENCRYPTION_KEY=NEW_KEY, DATA_ENCRYPTION_PREVIOUS_KEYS=DEV_ENCRYPTION_KEY)
    complaints.wait_ready()
    assert await read_back(complaints, records) == expected(records)
    texts = {REASON, NOTE, COMMENT, LEGACY}
    assert await audit_texts(complaints, records["cases"][0]) == texts

    async def none_under(key_id: str) -> bool:
        return await left_under(raw_db, key_id) == 0

    assert await eventually(lambda: none_under("dev1"), timeout=60, interval=0.5)
    for table, (number, _, _) in records.items():
        assert all(
            v.startswith(f"enc1:{kid}:") for v in (await raw(raw_db, table, number)).values()
        )

    complaints.stop()  # the old key dropped: every record is under the new one
    complaints.start(DATA_ENCRYPTION_KEY=NEW_KEY)
    complaints.wait_ready()
    assert await read_back(complaints, records) == expected(records)
    assert await audit_texts(complaints, records["cases"][0]) == texts
    assert all(
        v.startswith(f"enc1:{kid}:") for v in await raw_audit_texts(raw_db, records["cases"][0])
    )

    # Back to the development key the same way: later tests and services know only that one.
    complaints.stop()
    complaints.start(DATA_ENCRYPTION_PREVIOUS_KEYS=NEW_KEY)
    complaints.wait_ready()
    assert await eventually(lambda: none_under(kid), timeout=60, interval=0.5)
