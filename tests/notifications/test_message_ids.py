"""A message's id follows from its idempotency key: planned again by a replay after a
restore, it has the id Kannel's access log knows it by (restore_check.py)."""

from __future__ import annotations

from notifications.message_store import message_id


def test_the_same_key_gives_the_same_id_and_another_key_another() -> None:
    key = "reg:R1:visit_reminder:patient:P1:sms"
    assert message_id(key) == message_id(key)
    assert message_id(key) != message_id(key + ":resend:1")
