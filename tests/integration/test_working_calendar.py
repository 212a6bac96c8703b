"""The working-day calendar on the real stack: a complaint whose fact-finding crosses the 2027
Spring Festival is flagged while 2027 has no official schedule (case, metric), and counts the
added year's days once operations add it through the complaints API; the follow-up service
takes the same year from the `calendar.year_saved` event and plans calls by it.

The 2027 schedule here is TEST DATA, not the State Council's: no package had the 2027 notice
when this was written (chinese-calendar 1.11.0 ends at 2026; holidays 0.109 has no adjusted
working days for 2027). The real notice must be added by operations. The clock cannot be moved,
so the complaint is lodged on 2026-12-01 and this complaints instance gives fact-finding 50
working days: enough to run from then over New Year and the Spring Festival of 2027.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from hospital_shared import topics
from tests.factories import discharge, to_bytes
from tests.integration.services import RunningService, planned_task, running_all
from tests.kafka_tools import eventually, publish

ADMIN = {"Authorization": "Bearer dev-admin-token"}
DESK = {"Authorization": "Bearer dev-supervisor-token"}  # sees every case of the desk
CST = datetime.fromisoformat("2026-12-01T10:00:00+08:00").tzinfo
LODGED = "2026-12-01T10:00:00+08:00"
# The year as operations would PUT it (TEST DATA shaped like the notice: New Year, the Spring
# Festival Sat 2-6 .. Fri 2-12, and Sun 1-31 and Sat 2-20 worked, 调休).
TEST_2027: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "calendar-2027.json").read_text()
)


async def forget_2027(dsn: str) -> None:
    """No saved 2027 in either service, before the services start and after they stop."""
    conn = await asyncpg.connect(dsn)
    try:
        for schema in ("complaints", "followup"):
            if await conn.fetchval("SELECT to_regclass($1)", f"{schema}.calendar_years"):
                await conn.execute(f"DELETE FROM {schema}.calendar_years WHERE year = 2027")
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def services(stack_config, stack_env) -> AsyncIterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    await forget_2027(stack_env["DATABASE_URL"])
    # LODGED is a fixed day of 2026: taken however long ago it lies by now.
    env = {
        "complaints": {
            "COMPLAINTS_FACT_FINDING_WORKING_DAYS": "50",
            "COMPLAINTS_OLDEST_SUBMISSION_DAYS": "3650",
        }
    }
    with running_all(stack_config, ["complaints", "followup"], env) as running:
        yield running
    await forget_2027(stack_env["DATABASE_URL"])


@pytest.fixture
def complaints_url(services: dict[str, RunningService]) -> Iterator[str]:
    yield services["complaints"].url


async def open_case(http: httpx.AsyncClient) -> dict[str, Any]:
    body = {
        "channel": "phone",
        "description": "候诊排队等了三个小时",
        "patient": {"patient_id": "P-CAL-1", "name": "李四", "phone": "13900139000"},
        "department": {"code": "CS", "name": "客服中心"},
        "submitted_at": LODGED,
    }
    response = await http.post("/v1/cases", json=body, headers=DESK)
    assert response.status_code == 201, response.text
    case: dict[str, Any] = response.json()
    return case


def fact_finding_due(case: dict[str, Any]) -> datetime:
    [due] = [t["due_at"] for t in case["time_limits"] if t["limit"] == "fact_finding"]
    return datetime.fromisoformat(due)


def missing_gauge(metrics: str, service: str) -> float | None:
    pattern = rf'hospital_calendar_year_missing\{{service="{service}",year="2027"\}} (\S+)'
    found = re.search(pattern, metrics)
    return float(found.group(1)) if found else None


async def followup_has_2027(dsn: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        return bool(
            await conn.fetchval("SELECT count(*) FROM followup.calendar_years WHERE year = 2027")
        )
    finally:
        await conn.close()


async def test_fact_finding_over_the_2027_spring_festival_uses_the_added_years_days(
    services, stack_env
) -> None:  # type: ignore[no-untyped-def]
    complaints, followup = services["complaints"], services["followup"]
    async with httpx.AsyncClient(base_url=complaints.url, timeout=10) as http:
        # 2027 has no schedule: Monday to Friday, and loudly so.
        before = await open_case(http)
        assert fact_finding_due(before) == datetime(2027, 2, 9, 10, tzinfo=CST)
        assert before["calendar_missing_years"] == [2027]
        again = (await http.get(f"/v1/cases/{before['case_number']}", headers=DESK)).json()
        assert again["calendar_missing_years"] == [2027]
        assert missing_gauge((await http.get("/metrics")).text, "complaints") == 1
        assert "no official schedule for this year" in complaints.log
        years = (await http.get("/v1/calendar/years", headers=ADMIN)).json()
        assert 2027 in years["missing_years"]  # what operations' calendar screen warns of

        # Operations add 2027 (test data): the next case counts its days.
        refused = await http.put(
            "/v1/calendar/years/2027", json={**TEST_2027, "workdays": ["2027-02-22"]},
            headers=ADMIN,
        )  # fmt: skip
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["location"] == ["body", "workdays"]
        forbidden = await http.put("/v1/calendar/years/2027", json=TEST_2027, headers=DESK)
        assert forbidden.status_code == 403
        saved = await http.put("/v1/calendar/years/2027", json=TEST_2027, headers=ADMIN)
        assert saved.status_code == 200, saved.text
        after = await open_case(http)
        # 50 working days from Tue 2026-12-01: without 1-1 and 2-8..2-12, with Sun 1-31: 2-16.
        assert fact_finding_due(after) == datetime(2027, 2, 16, 10, tzinfo=CST)
        assert after["calendar_missing_years"] == []
        assert missing_gauge((await http.get("/metrics")).text, "complaints") == 0
        years = (await http.get("/v1/calendar/years", headers=ADMIN)).json()
        assert 2027 not in years["missing_years"]  # the open case was recounted, its flag lifted
        listed = years["years"]
        assert listed[-1]["year"] == 2027 and listed[-1]["source"].startswith("TEST DATA")
        assert listed[-1]["workdays"] == 2

    # The follow-up service takes the year from the event and plans calls by it: a patient
    # discharged on Saturday 2027-02-06 is first called on Monday 2-15, not 2-8.
    dsn = stack_env["DATABASE_URL"]
    await eventually(lambda: followup_has_2027(dsn), timeout=60)
    event = discharge(
        880_000 + datetime.now().microsecond,
        discharged_at="2027-02-06T18:00:00+08:00",
        admitted_at="2027-02-01T09:00:00+08:00",
    )
    admission = event["data"]["admission_id"]
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        topics.DISCHARGES,
        [(event["subject"], to_bytes(event))],
    )
    task = await eventually(lambda: planned_task(followup.url, f"FU-{admission}"), timeout=60)
    assert datetime.fromisoformat(task["not_before"]) == datetime(2027, 2, 15, 8, 30, tzinfo=CST)
