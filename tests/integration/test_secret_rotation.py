"""Rotating the notifications service's two secrets on the real stack (PostgreSQL, Kafka,
Kannel, the service restarted with the new secret and the old one kept as previous):
- a survey invitation planned under the old survey secret, held and sent after the rotation,
  carries the token its link was made with, and the patient's page opens;
- a delivery receipt signed under the old callback secret is still taken; one signed with a
  secret the service never had is refused.
Before `*_PREVIOUS_SECRETS` existed, a rotation broke every link not yet sent (reminders go
up to three days later) and every receipt still to come."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from hospital_shared import topics
from notifications.dispatcher import receipt_signature
from tests import factories
from tests.integration.services import running
from tests.integration.test_notifications_sms import BASE_ENV, send_events, sms_received
from tests.kafka_tools import eventually

LINK = re.compile(r"(https?://\S+?/s/[A-Za-z0-9_-]{32})")
OLD = {
    "NOTIFICATIONS_SURVEY_SECRET": "survey-before",
    "NOTIFICATIONS_CALLBACK_SECRET": "dlr-before",
}
NEW = {
    "NOTIFICATIONS_SURVEY_SECRET": "survey-after",
    "NOTIFICATIONS_SURVEY_PREVIOUS_SECRETS": json.dumps(["survey-before"]),
    "NOTIFICATIONS_CALLBACK_SECRET": "dlr-after",
    "NOTIFICATIONS_CALLBACK_PREVIOUS_SECRETS": json.dumps(["dlr-before"]),
}
ENV = {
    **BASE_ENV,
    "NOTIFICATIONS_SURVEY_CONTACTS": '["outpatient_visit", "first_visit"]',
    "NOTIFICATIONS_SURVEY_DELAY_H": "0",
}


async def _planned_invitation(raw_db: asyncpg.Connection, patient_id: str) -> Any:
    return await raw_db.fetchval(
        "SELECT m.id FROM notifications.messages m JOIN notifications.survey_links l"
        " ON l.patient_id = m.patient_id WHERE m.patient_id = $1 AND m.channel = 'sms'"
        " AND m.template = 'patient_survey_invitation' AND m.status = 'pending'",
        patient_id,
    )


async def test_links_and_receipts_made_before_a_rotation_still_work_after_it(
    stack_config, stack_env, raw_db
) -> None:  # type: ignore[no-untyped-def]
    n = uuid.uuid4().int % 10**8
    visit = factories.registration(
        n,
        registration_id=f"ROT{n}-R",
        patient=factories.patient(n, phone=f"139{n:08d}"),
        visit_type="return",
        registered_at=(datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        appointment_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    )
    patient_id = visit["data"]["patient"]["patient_id"]
    held = {**ENV, **OLD, "NOTIFICATIONS_SMS_DISPATCH_PAUSED": "true"}
    with running(stack_config, "notifications", held):
        await send_events(stack_env, topics.REGISTRATIONS, visit)
        message_id = await eventually(lambda: _planned_invitation(raw_db, patient_id), timeout=60)

    with running(stack_config, "notifications", {**ENV, **NEW}) as service:

        def received() -> str | None:
            texts = [t for to, t in sms_received(stack_config, "") if to.endswith(f"{n:08d}")]
            found = [m.group(1) for t in texts if (m := LINK.search(t))]
            return found[0] if found else None

        link = await eventually(received, timeout=60)
        async with httpx.AsyncClient(timeout=10) as client:
            page = await client.get(link)
        assert page.status_code == 200 and 'name="csrf"' in page.text, page.text[:400]

        async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:

            def dlr(secret: str) -> Any:
                sig = receipt_signature(secret, str(message_id))
                params = {"id": str(message_id), "sig": sig, "status": 1}
                return client.get("/v1/sms/dlr", params=params)

            assert (await dlr("never-this-one")).status_code == 403
            assert (await dlr("dlr-before")).status_code == 200
        status = await raw_db.fetchval(
            "SELECT status FROM notifications.messages WHERE id = $1", message_id
        )
        assert status == "delivered"
