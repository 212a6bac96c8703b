"""The department names the console shows for codes (console/departments.py): follow-up's
directory read at most once a minute, the name in the page's language, the code when the
directory does not know it, and a page that never fails for it: follow-up away, the codes
(or what was read before) are shown. The app in this process (tests/console/in_process.py)."""

from __future__ import annotations

import httpx

from console.backend import Unavailable
from console.departments import DepartmentNames, name_of, offered
from tests.console.in_process import console, idle_services

DIRECTORY = {
    "CARD": {"code": "CARD", "name_zh": "心内科", "name_en": "Cardiology", "active": True},
    "ORTH": {"code": "ORTH", "name_zh": "骨科", "name_en": None, "active": True},
    "OLD": {"code": "OLD", "name_zh": "旧科室", "name_en": "Old", "active": False},
}
TASK = {
    "task_id": "FU-1", "kind": "inpatient_discharge", "department_code": "CARD",
    "patient": {"patient_id": "P1", "name": "张三"}, "not_before": None,
    "due_at": "2026-12-08T08:00:00Z", "bucket": "due_today", "attempts_made": 0,
    "max_attempts": 3,
}  # fmt: skip


def test_a_code_is_named_in_the_pages_language_and_shown_as_itself_when_unknown() -> None:
    assert name_of(DIRECTORY, "CARD", "zh") == "心内科"
    assert name_of(DIRECTORY, "CARD", "en") == "Cardiology"
    assert name_of(DIRECTORY, "ORTH", "en") == "骨科"  # no English name: the Chinese
    assert name_of(DIRECTORY, "XYZ", "zh") == "XYZ"
    assert name_of(DIRECTORY, None, "zh") == ""


def test_a_form_offers_active_departments_by_code_and_keeps_the_one_chosen() -> None:
    assert offered(DIRECTORY, "zh") == [("CARD", "心内科"), ("ORTH", "骨科")]
    assert ("OLD", "旧科室") in offered(DIRECTORY, "zh", also="OLD")


class Followup:
    """Follow-up's directory and one worklist call; `down` makes it answer 503."""

    def __init__(self) -> None:
        self.down = False
        self.asked = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/departments":
            self.asked += 1
            if self.down:
                return httpx.Response(503, json={"detail": "down"})
            return httpx.Response(200, json={"items": list(DIRECTORY.values())})
        if request.url.path == "/v1/worklist":
            return httpx.Response(200, json={"overdue": [], "due_today": [TASK], "upcoming": []})
        if request.url.path == "/v1/worklist/available":
            return httpx.Response(200, json={"items": [], "next": None, "limit": 50})
        return idle_services(request)


def _cell(html: str) -> str:
    """The worklist row's department cell."""
    row = html.split("张三", 1)[1]
    return row.split("<td>", 3)[2].split("</td>", 1)[0]


def test_the_worklist_names_the_department_and_shows_the_code_when_followup_is_away() -> None:
    followup = Followup()
    app = console(followup)
    app.sign_in(staff_id="S-AGENT-01", roles=["agent"], department="CARD")
    page = app.client.get("/worklist")
    assert page.status_code == 200 and _cell(page.text) == "心内科"
    app.client.cookies.set("console_lang", "en")
    assert _cell(app.client.get("/worklist").text) == "Cardiology"
    assert followup.asked == 1  # read once for both pages

    fresh = Followup()
    fresh.down = True
    app = console(fresh)
    app.sign_in(staff_id="S-AGENT-01", roles=["agent"], department="CARD")
    page = app.client.get("/worklist")
    assert page.status_code == 200 and _cell(page.text) == "CARD"


async def test_a_directory_that_does_not_answer_keeps_what_was_read_and_is_asked_again() -> None:
    now = [0.0]
    names = DepartmentNames(clock=lambda: now[0])
    followup = Followup()

    class Backend:
        """The console's `Backend.get` as it fails: follow-up away is `Unavailable`."""

        async def get(self, session: object, service: str, path: str) -> dict[str, object]:
            answer = followup(httpx.Request("GET", f"http://followup{path}"))
            if answer.status_code != 200:
                raise Unavailable(service)
            return dict(answer.json())

    read = await names.read(Backend(), None)  # type: ignore[arg-type]
    assert read["CARD"]["name_zh"] == "心内科"
    followup.down = True
    now[0] = 61.0
    assert (await names.read(Backend(), None))["CARD"]["name_zh"] == "心内科"  # type: ignore[arg-type]
    now[0] = 65.0  # not asked again at every page while it is away
    await names.read(Backend(), None)  # type: ignore[arg-type]
    assert followup.asked == 2
    now[0] = 72.0
    await names.read(Backend(), None)  # type: ignore[arg-type]
    assert followup.asked == 3


def test_the_department_metrics_counts_unknown_visits_under_is_said_in_words() -> None:
    assert name_of({}, "unknown", "zh") == "未知科室"
    assert name_of({}, "unknown", "en") == "Unknown department"
    assert name_of({}, "UNKNOWN-2", "zh") == "UNKNOWN-2"
