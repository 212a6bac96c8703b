"""What never goes to the gateway longer than it sends (Kannel's `max-messages`, 10 parts):
a digest by SMS holds the notes that fit and counts the rest; a template whose sample text is
longer is refused when it is saved (a message over it fails as too_long: test_quiet_hours)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from hospital_shared.auth import Principal, Role
from notifications import message_cases
from notifications.digest import DigestJob
from notifications.refusals import Invalid
from notifications.segments import count_segments
from notifications.settings import Settings
from notifications.staff_policy import digest_context
from notifications.templates import DEFAULT_TEMPLATES, SAMPLE_CONTEXT, render

ROOT = Path(__file__).resolve().parents[2]
DIGEST = next(t.body for t in DEFAULT_TEMPLATES if t.name == "staff_digest")
TASK = next(t.body for t in DEFAULT_TEMPLATES if t.name == "staff_task_assigned")


def notes(n: int) -> list[str]:
    return [render(TASK, {**SAMPLE_CONTEXT, "task_id": f"FU-A{i}-20261207"}) for i in range(n)]


def job(max_segments: int = 10) -> DigestJob:
    return DigestJob(None, None, None, max_items=20, sms_max_segments=max_segments)  # type: ignore[arg-type]


def test_a_digest_by_sms_holds_the_notes_that_fit_and_counts_the_rest() -> None:
    eight = notes(8)
    whole = render(DIGEST, digest_context(eight, 20))
    assert count_segments(whole).segments > 10  # as it was sent: cut by Kannel mid-note
    body = job()._fitting(DIGEST, eight, "sms")
    assert count_segments(body).segments <= 10
    shown = [n for n in range(1, 9) if f"\n{n}. " in body]
    assert shown == list(range(1, len(shown) + 1)) and 1 <= len(shown) < 8
    assert f"另有{8 - len(shown)}项" in body
    # one more note would not have fitted
    fuller = render(DIGEST, digest_context(eight, len(shown) + 1))
    assert count_segments(fuller).segments > 10
    assert job()._fitting(DIGEST, eight, "inbox") == whole  # an inbox has no parts


def test_a_digest_of_one_note_longer_than_an_sms_still_holds_that_note() -> None:
    body = job(max_segments=1)._fitting(DIGEST, notes(3), "sms")
    assert "1. " in body and "2. " not in body and "另有2项" in body


async def test_a_template_longer_than_an_sms_with_the_sample_values_is_refused() -> None:
    manager = Principal(role=Role.SUPERVISOR, staff_id="S-SUP-01")
    with pytest.raises(Invalid) as refused:
        await message_cases.edit_template(
            None, "visit_reminder", by=manager, body="您好" * 350, urgent=None,  # type: ignore[arg-type]
            send_to_deceased=None, max_segments=10,
        )  # fmt: skip
    assert refused.value.field == "body"
    assert "too_long: 11 segments, the gateway sends at most 10" in str(refused.value)


class _Saved:
    """A connection that saves any template (the check before it is what is tested)."""

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any]:
        return {"audience": "patient", "urgent": False, "name": args[0], "body": "x"}

    async def execute(self, *args: Any) -> str:
        return "INSERT 0 1"


async def test_a_template_that_fits_is_saved() -> None:
    manager = Principal(role=Role.SUPERVISOR, staff_id="S-SUP-01")
    _, preview = await message_cases.edit_template(
        _Saved(), "visit_reminder", by=manager, body="您好" * 335, urgent=None,  # type: ignore[arg-type]
        send_to_deceased=None, max_segments=10,
    )  # fmt: skip
    assert count_segments(preview).segments == 10


@pytest.mark.parametrize(
    "config",
    [
        ROOT / "deploy/kannel/kannel.conf",  # docker compose
        ROOT / "tools/devstack/devstack/kannel.py",  # make up, the tests
    ],
)
def test_the_longest_sms_is_the_gateways_max_messages(config: Path) -> None:
    """`NOTIFICATIONS_SMS_MAX_SEGMENTS` is what smsbox's sendsms user sends at most."""
    user = config.read_text().split("group = sendsms-user", 1)[1].split("group = ", 1)[0]
    (max_messages,) = re.findall(r"^max-messages = (\d+)$", user, re.MULTILINE)
    assert int(max_messages) == Settings().sms_max_segments
