"""A patient's objection in a follow-up call whose task has no name or phone (the targeted
second call a dissatisfied survey of a visit no call was planned for plans) is still the
patient's complaint: follow-up hands it over with the patient's id (it was made anonymous,
losing the patient), complaints opens the case linked to the patient, and the acknowledgement
goes to the phone notifications holds for them. The follow-up, complaints and notifications
services as processes on the real Kafka, PostgreSQL and Kannel."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from hospital_shared import topics
from tests.factories import complaint, patient, registration, to_bytes
from tests.integration.services import RunningService, running
from tests.integration.test_complaints_service import (  # noqa: F401  (fixtures)
    complaints,
    http,
    tokens,
)
from tests.integration.test_followup_service import (  # noqa: F401  (fixtures)
    DEPT,
    api,
    complaint_for,
    followup,
    outcome,
    task_in,
)
from tests.integration.test_notifications_sms import sms_received
from tests.integration.test_survey_answers_consumed import GUIDANCE_BAD, answered
from tests.kafka_tools import eventually, publish

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def notifications(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "notifications", {}) as service:
        yield service


async def test_an_objection_on_a_call_without_a_phone_opens_the_patients_own_case(
    api: httpx.AsyncClient,  # noqa: F811  (the imported fixtures)
    http: httpx.AsyncClient,  # noqa: F811
    tokens: dict[str, Any],  # noqa: F811
    notifications: RunningService,
    stack_config: Any,
    stack_env: dict[str, str],
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    n = uuid.uuid4().hex[:10].upper()
    patient_id, phone = f"P-OBJ{n}", f"139{uuid.uuid4().int % 10**8:08d}"
    # an earlier visit: notifications holds the patient's phone
    earlier = registration(
        registration_id=f"R-EARLY{n}", patient=patient(patient_id=patient_id, phone=phone)
    )
    await publish(bootstrap, topics.REGISTRATIONS, [(patient_id, to_bytes(earlier))])
    visit = f"R-OBJ{n}"  # never sampled for a call: the survey's second call knows no phone
    await answered(bootstrap, f"registration:{visit}", "outpatient_visit", [GUIDANCE_BAD],
                   department_code=DEPT, patient_id=patient_id)  # fmt: skip
    second = await task_in(api, f"FU-OP-{visit}-2", "assigned")
    assert second["patient"] == {"patient_id": patient_id, "name": None, "phone": None}

    resp = await outcome(api, second["task_id"], "t-sup", reached=True,
                         satisfaction="dissatisfied", objection="挂号费收了两次")  # fmt: skip
    assert resp.status_code == 200 and resp.json()["complaint_submitted"] is True, resp.text
    sent = await complaint_for(bootstrap, second["task_id"])
    assert sent["data"]["patient"]["patient_id"] == patient_id

    async def listed() -> list[dict[str, Any]]:
        r = await http.get("/v1/cases", params={"patient_id": patient_id},
                           headers=tokens["supervisor"])  # fmt: skip
        return r.json()["items"]  # type: ignore[no-any-return]

    [listed_case] = await eventually(listed, timeout=30)
    number = listed_case["case_number"]
    case = (await http.get(f"/v1/cases/{number}", headers=tokens["admin"])).json()
    assert (case["channel"], case["patient"]["patient_id"]) == ("followup", patient_id)
    assert case["description"] == "挂号费收了两次"
    received = await eventually(
        lambda: [to for to, _ in sms_received(stack_config, number) if to.endswith(phone)],
        timeout=40,
    )
    assert received == [f"+86{phone}"]


async def test_a_complaint_by_patient_id_alone_keeps_the_patients_opt_out(
    http: httpx.AsyncClient,  # noqa: F811  (the imported fixtures)
    tokens: dict[str, Any],  # noqa: F811
    notifications: RunningService,
    stack_config: Any,
    stack_env: dict[str, str],
) -> None:
    """The complainant's `sms_opt_out` defaults to false: from a patient named by id alone it
    is no news, and must not clear the opt-out on file (the acknowledgement is withheld)."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    n = uuid.uuid4().hex[:10].upper()
    patient_id, phone = f"P-OPT{n}", f"139{uuid.uuid4().int % 10**8:08d}"
    opted = patient(patient_id=patient_id, phone=phone, sms_opt_out=True)
    earlier = registration(registration_id=f"R-OPT{n}", patient=opted)
    await publish(bootstrap, topics.REGISTRATIONS, [(patient_id, to_bytes(earlier))])
    lodged = complaint(f"HIS-OPT{n}", patient={"patient_id": patient_id},
                       submitted_at=datetime.now(UTC).isoformat())  # fmt: skip
    await publish(bootstrap, topics.COMPLAINTS_IN, [(patient_id, to_bytes(lodged))])

    async def listed() -> list[dict[str, Any]]:
        r = await http.get("/v1/cases", params={"patient_id": patient_id},
                           headers=tokens["supervisor"])  # fmt: skip
        return r.json()["items"]  # type: ignore[no-any-return]

    [case] = await eventually(listed, timeout=30)
    ack = await eventually(
        lambda: acknowledgement(stack_env, case["case_number"], final=True), timeout=40
    )
    assert ack == ("suppressed", "opted_out")
    # to this patient's phone: the operator's log may hold an earlier run's SMS with the same
    # case number (a stack reused after a restore takes the numbers back)
    sent = [to for to, _ in sms_received(stack_config, case["case_number"])]
    assert not [to for to in sent if to.endswith(phone[-8:])], sent


async def acknowledgement(
    stack_env: dict[str, str], number: str, *, final: bool
) -> tuple[str, str | None] | None:
    """(status, reason) of the case's acknowledgement SMS (None while pending, when `final`)."""
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        row = await conn.fetchrow(
            "SELECT status, status_reason FROM notifications.messages"
            " WHERE subject_ref = $1 AND template = 'complaint_acknowledgement'",
            f"case:{number}",
        )
    finally:
        await conn.close()
    if row is None or (final and row["status"] == "pending"):
        return None
    return row["status"], row["status_reason"]
