"""An SMS opt-out read back after a restore lands on the patient who survived a merge.

After a restore, notifications reads its opt-outs back (`opt_outs` consumer) and the
registrations again (`notify`, which applies merges, ADT^A40) in two consumer groups, in no
order between them. When the merge came first, its move of `opt_outs` was over before the
opt-out was written again under the merged id, and the surviving patient was texted. The
replay now writes it under the surviving id. Real notifications service, Kafka, PostgreSQL;
the merge is the alias row a merge writes (`patient_aliases`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from hospital_shared import topics
from tests.factories import envelope
from tests.integration.services import running
from tests.integration.test_call_opt_outs_survive_restore import fetch_rows
from tests.integration.test_notifications_sms import BASE_ENV, send_events
from tests.kafka_tools import eventually

pytestmark = pytest.mark.stack


async def test_an_opt_out_read_back_after_its_patients_merge_is_the_survivors(
    stack_config: Any, stack_env: dict[str, str]
) -> None:
    n = uuid.uuid4().hex[:10]
    merged, survivor, ref = f"PM{n}", f"PS{n}", str(uuid.uuid4())
    with running(stack_config, "notifications", BASE_ENV):
        await fetch_rows(
            stack_env,
            "INSERT INTO notifications.patient_aliases (merged_id, surviving_id, event_id,"
            " merged_at) VALUES ($1, $2, $3, now())",
            merged, survivor, f"merge-{n}",
        )  # fmt: skip
        opt_out = {
            "opt_out_ref": ref, "patient_id": merged, "source": "api",
            "created_by": "S-SUP-01", "created_at": datetime.now(UTC).isoformat(),
        }  # fmt: skip
        event = envelope("sms.opt_out_recorded", opt_out, subject=ref)
        await send_events(stack_env, topics.OPT_OUTS, event)

        async def written() -> list[asyncpg.Record] | None:
            rows = await fetch_rows(
                stack_env, "SELECT patient_id FROM notifications.opt_outs WHERE ref = $1::uuid", ref
            )
            return rows or None

        rows = await eventually(written, timeout=30)
    assert [r["patient_id"] for r in rows] == [survivor]
