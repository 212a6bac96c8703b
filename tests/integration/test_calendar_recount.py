"""Entering a calendar year recounts the open cases' working-day limits counted over it, on
the real complaints service and PostgreSQL (recount.py).

A case lodged 2026-12-01 with 50 working days of fact-finding (this instance's setting, to run
over New Year and the 2027 Spring Festival) is due Tue 2027-02-09, in the festival, while 2027
has no schedule. Saving 2027 moves it to Tue 2-16 (1-1 and 2-8..2-12 off, Sun 1-31 worked),
with a line in its record and its warning moved for the timer; a withdrawn case and an
enquiry (wall-clock limit) are not touched. A failure midway leaves neither the year nor any
deadline changed, and saving again finishes. The 2027 schedule is TEST DATA
(tests/data/calendar-2027.json), not the State Council's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.services import RunningService, running_all
from tests.integration.test_working_calendar import (
    ADMIN,
    CST,
    DESK,
    TEST_2027,
    fact_finding_due,
    forget_2027,
    open_case,
)
from tests.kafka_tools import eventually

RECOUNTED = "deadline_recounted"


@pytest.fixture(scope="module")
async def started(  # type: ignore[no-untyped-def]
    stack_config, stack_env, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[RunningService, Path]]:
    """The complaints service, and the failpoints file it reads (empty: none on)."""
    failpoints = tmp_path_factory.mktemp("failpoints") / "failpoints"
    switch(failpoints, "")
    await forget_2027(stack_env["DATABASE_URL"])
    env = {"complaints": {"COMPLAINTS_FACT_FINDING_WORKING_DAYS": "50",
                          "COMPLAINTS_CALENDAR_RELOAD_INTERVAL_S": "1",
                          "HOSPITAL_FAILPOINTS_FILE": str(failpoints)}}  # fmt: skip
    with running_all(stack_config, ["complaints"], env) as running:
        yield running["complaints"], failpoints
    await forget_2027(stack_env["DATABASE_URL"])


def switch(failpoints: Path, text: str) -> None:
    """Set the failpoints the running service reads at each failpoint."""
    failpoints.write_text(text)


async def case_of(http: httpx.AsyncClient, number: str) -> dict[str, Any]:
    response = await http.get(f"/v1/cases/{number}", headers=DESK)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def recounts_of(http: httpx.AsyncClient, number: str) -> list[dict[str, Any]]:
    response = await http.get(f"/v1/cases/{number}/audit", headers=DESK)
    assert response.status_code == 200, response.text
    return [a for a in response.json()["audit"] if a["action"] == RECOUNTED]


async def timer_row(dsn: str, number: str) -> asyncpg.Record:
    """The fact-finding row the time-limit timer reads (warn_at, due_at)."""
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchrow(
            "SELECT d.due_at, d.warn_at, d.starts_at FROM complaints.case_deadlines d"
            " JOIN complaints.cases c ON c.id = d.case_id"
            " WHERE c.case_number = $1 AND d.limit_name = 'fact_finding'",
            number,
        )
    finally:
        await conn.close()


async def take_enquiry(http: httpx.AsyncClient) -> dict[str, Any]:
    body = {"channel": "phone", "question": "春节期间门诊开放吗",
            "department": {"code": "CS", "name": "客服中心"}}  # fmt: skip
    response = await http.post("/v1/enquiries", json=body, headers=DESK)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_saving_2027_recounts_the_open_case_due_in_the_festival(
    started: tuple[RunningService, Path], stack_env: dict[str, str]
) -> None:
    (complaints, failpoints), dsn = started, stack_env["DATABASE_URL"]
    async with httpx.AsyncClient(base_url=complaints.url, timeout=30) as http:
        case, withdrawn = await open_case(http), await open_case(http)
        number = case["case_number"]
        assert fact_finding_due(case) == datetime(2027, 2, 9, 10, tzinfo=CST)  # in the festival
        assert case["calendar_missing_years"] == [2027]
        moved = await http.post(
            f"/v1/cases/{withdrawn['case_number']}/transitions",
            json={"to": "withdrawn", "note": "lodged twice"}, headers=DESK,
        )  # fmt: skip
        assert moved.status_code == 200, moved.text
        enquiry = await take_enquiry(http)
        counted_mon_fri = await timer_row(dsn, number)

        # A failure after the deadlines were moved, before their record: nothing stays.
        switch(failpoints, "calendar.recount.midway=transient")
        failed = await http.put("/v1/calendar/years/2027", json=TEST_2027, headers=ADMIN)
        assert failed.status_code >= 500, failed.text
        switch(failpoints, "")
        assert (await http.get("/v1/calendar/years/2027", headers=ADMIN)).status_code == 404
        assert await timer_row(dsn, number) == counted_mon_fri
        assert await recounts_of(http, number) == []

        saved = await http.put("/v1/calendar/years/2027", json=TEST_2027, headers=ADMIN)
        assert saved.status_code == 200, saved.text

        after = await case_of(http, number)
        assert fact_finding_due(after) == datetime(2027, 2, 16, 10, tzinfo=CST)
        assert after["calendar_missing_years"] == []
        [line] = await recounts_of(http, number)
        assert line["actor_role"] == "admin"
        assert line["detail"]["limit"] == "fact_finding"
        assert line["detail"]["calendar_year"] == 2027
        assert datetime.fromisoformat(line["detail"]["from"]) == datetime(
            2027, 2, 9, 10, tzinfo=CST
        )
        assert datetime.fromisoformat(line["detail"]["to"]) == datetime(2027, 2, 16, 10, tzinfo=CST)
        # The timer's row: due and warning (80% of the new span) moved.
        row = await timer_row(dsn, number)
        assert row["due_at"] == datetime(2027, 2, 16, 10, tzinfo=CST)
        assert row["warn_at"] == row["starts_at"] + (row["due_at"] - row["starts_at"]) * 0.8

        # Closed or withdrawn: left as it was. The enquiry's limit is wall-clock: unmoved.
        gone = await case_of(http, withdrawn["case_number"])
        assert fact_finding_due(gone) == datetime(2027, 2, 9, 10, tzinfo=CST)
        assert await recounts_of(http, withdrawn["case_number"]) == []
        same = (await http.get(f"/v1/enquiries/{enquiry['enquiry_number']}", headers=ADMIN)).json()
        assert same["time_limit"] == enquiry["time_limit"]
        assert [h for h in same["history"] if "recount" in h["action"]] == []

        # Saving the same year again is a no-op for the recounted case.
        again = await http.put("/v1/calendar/years/2027", json=TEST_2027, headers=ADMIN)
        assert again.status_code == 200, again.text
        assert len(await recounts_of(http, number)) == 1
        assert fact_finding_due(await case_of(http, number)) == datetime(
            2027, 2, 16, 10, tzinfo=CST
        )


async def knows_2027(http: httpx.AsyncClient) -> bool:
    """What the service counts by (its live calendar), not what the table holds."""
    return (await http.get("/v1/calendar/years/2027", headers=ADMIN)).status_code == 200


async def saved_by_another_instance(dsn: str) -> None:
    """2027 saved as another instance's PUT saves it: the table, not this instance."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO complaints.calendar_years (year, schedule, saved_by)"
            " VALUES (2027, $1::jsonb, 'S-ADMIN-01')",
            json.dumps({"year": 2027, **TEST_2027}, ensure_ascii=False),
        )
    finally:
        await conn.close()


async def test_a_case_counted_before_this_instance_reloaded_a_year_saved_elsewhere_is_recounted(
    started: tuple[RunningService, Path], stack_env: dict[str, str]
) -> None:
    """The save lifted the flags of the cases there were; this one was counted by an instance
    still without the year, so it keeps its flag: that instance's reload recounts it."""
    (complaints, _), dsn = started, stack_env["DATABASE_URL"]
    await forget_2027(dsn)
    async with httpx.AsyncClient(base_url=complaints.url, timeout=30) as http:
        await eventually(lambda: _not(knows_2027(http)), timeout=30)
        case = await open_case(http)
        number = case["case_number"]
        assert fact_finding_due(case) == datetime(2027, 2, 9, 10, tzinfo=CST)
        assert case["calendar_missing_years"] == [2027]

        await saved_by_another_instance(dsn)
        await eventually(lambda: recounts_of(http, number), timeout=30)
        after = await case_of(http, number)
        assert fact_finding_due(after) == datetime(2027, 2, 16, 10, tzinfo=CST)
        assert after["calendar_missing_years"] == []
        [line] = await recounts_of(http, number)
        assert (line["actor_id"], line["actor_role"]) == ("system:calendar", "system")
        assert datetime.fromisoformat(line["detail"]["to"]) == datetime(2027, 2, 16, 10, tzinfo=CST)


async def _not(check: Any) -> bool:
    return not await check
