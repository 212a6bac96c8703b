"""A message's id follows from its idempotency key: planned again by a replay after a
restore, it has the id Kannel's access log knows it by (restore_check.py)."""

from __future__ import annotations

from notifications.message_store import message_id, message_id_text


def test_the_same_key_gives_the_same_id_and_another_key_another() -> None:
    key = "reg:R1:visit_reminder:patient:P1:sms"
    assert message_id(key) == message_id(key)
    assert message_id(key) != message_id(key + ":resend:1")


def test_the_id_written_with_a_new_message_is_the_id_of_its_key() -> None:
    """insert_messages writes the id as text made without `uuid.uuid5` (message_id_text)."""
    for key in ("reg:R1:visit_reminder:patient:P1:sms", "任务:T-1:staff:S-01:inbox", ""):
        assert message_id_text(key) == str(message_id(key))
