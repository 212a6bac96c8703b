"""A staff notification links to the console page of what it is about."""

from __future__ import annotations

from typing import Any

from notifications.links import console_link
from notifications.settings import Settings

PATHS = Settings().console_paths


def link(audience: str, subject_ref: str | None, **kw: Any) -> str | None:
    message = {"audience": audience, "subject_ref": subject_ref}
    return console_link(message, base_url=kw.get("base", "http://console.lan:8006/"), paths=PATHS)


def test_a_case_notice_opens_the_case_page() -> None:
    assert (
        link("staff", "case:TS-20261205-0007") == "http://console.lan:8006/cases/TS-20261205-0007"
    )


def test_a_task_notice_opens_the_task_page() -> None:
    assert link("staff", "task:FU-1/2") == "http://console.lan:8006/tasks/FU-1%2F2"


def test_patients_messages_and_subjects_without_a_page_link_nowhere() -> None:
    assert link("patient", "case:TS-20261205-0007") is None
    assert link("staff", "queue:Q-1") is None
    assert link("staff", None) is None
    assert link("staff", "case:") is None
