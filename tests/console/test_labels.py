"""What the console's pages say, read as a person reads them: times that are the patient's,
and Chinese words, never the services' codes or English sentences, on Chinese pages."""

from __future__ import annotations

import httpx

from complaints.responses import CASE_EXAMPLE
from tests.console.in_process import console, idle_services

NUMBER = "TS-20261206-0001"


def _queue(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v1/cases":
        case = CASE_EXAMPLE | {
            "case_number": NUMBER, "time_limits": [],
            "submitted_at": "2026-12-06T04:55:00Z", "opened_at": "2026-12-07T10:55:00Z",
        }  # fmt: skip
        return httpx.Response(200, json={"items": [case], "next": None, "limit": 50})
    return idle_services(request)


def test_the_queue_shows_when_the_patient_complained_and_when_the_case_was_entered() -> None:
    app = console(_queue)
    app.sign_in(roles=["supervisor"], staff_id="S-SUP-01")
    page = app.client.get("/cases")
    assert page.status_code == 200
    assert '<th scope="col">投诉时间</th>' in page.text
    row = page.text.split(f">{NUMBER}</a>")[1].split("</tr>")[0]
    assert row.index("2026-12-06 12:55") < row.index("录入 2026-12-07 18:55")
