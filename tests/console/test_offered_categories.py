"""The categories the forms offer are the complaints service's, read at most once a minute
(console/categories.py); the forms on the real stack: tests/e2e/test_console_categories.py."""

from __future__ import annotations

from typing import Any

from console.categories import OfferedCategories
from console.session import Session

SESSION = Session("s", "S-AGENT-01", ["agent"], "CS", "S-AGENT-01", "token")


class Complaints:
    """The backend's `get`, answering what the service's settings say now."""

    def __init__(self) -> None:
        self.praise = ["nursing_care", "other"]
        self.asked = 0

    async def get(self, session: Session, service: str, path: str, **kw: Any) -> Any:
        assert (service, path) == ("complaints", "/v1/categories")
        self.asked += 1
        return {"complaint": ["billing", "other"], "praise": self.praise, "suggestion": ["other"]}


async def test_the_services_categories_are_read_once_a_minute_then_again() -> None:
    now = [1000.0]
    cache = OfferedCategories(clock=lambda: now[0])
    complaints = Complaints()
    first = await cache.read(complaints, SESSION)  # type: ignore[arg-type]
    assert first["praise"] == ("nursing_care", "other")
    complaints.praise = ["ward_cleanliness", "other"]  # the hospital's own, after a restart
    now[0] += 59
    assert (await cache.read(complaints, SESSION))["praise"] == ("nursing_care", "other")  # type: ignore[arg-type]
    now[0] += 1
    assert (await cache.read(complaints, SESSION))["praise"] == ("ward_cleanliness", "other")  # type: ignore[arg-type]
    assert complaints.asked == 2
