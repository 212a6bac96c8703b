from datetime import timedelta

from notifications.domain import OUTCOME_UNKNOWN, Status, apply_receipt, receipt_status, retry_delay


def test_kannel_receipt_types() -> None:
    assert receipt_status(1) == Status.DELIVERED
    assert receipt_status(8) == Status.SUBMITTED
    assert receipt_status(2) == Status.FAILED
    assert receipt_status(16) == Status.FAILED
    assert receipt_status(99) is None


def test_receipts_only_move_a_message_forward() -> None:
    assert apply_receipt(Status.SUBMITTED, None, Status.DELIVERED) == Status.DELIVERED
    # Kannel's "delivered" often arrives before the "SMSC ack"
    assert apply_receipt(Status.DELIVERED, None, Status.SUBMITTED) is None
    assert apply_receipt(Status.SENDING, None, Status.DELIVERED) == Status.DELIVERED
    assert apply_receipt(Status.SUBMITTED, None, Status.FAILED) == Status.FAILED
    assert apply_receipt(Status.PENDING, None, Status.DELIVERED) is None


def test_a_receipt_corrects_a_message_the_service_lost_track_of() -> None:
    assert apply_receipt(Status.FAILED, OUTCOME_UNKNOWN, Status.DELIVERED) == Status.DELIVERED
    assert apply_receipt(Status.FAILED, "HTTP 400", Status.DELIVERED) is None


def test_retry_backoff_is_exponential_and_capped() -> None:
    delays = [retry_delay(n, initial_s=5, max_s=60) for n in range(1, 7)]
    assert delays == [timedelta(seconds=s) for s in (5, 10, 20, 40, 60, 60)]


def test_a_repeated_or_queued_receipt_changes_nothing() -> None:
    """Kannel repeats receipts and sends 'queued on the SMSC' (4) after the ack."""
    assert receipt_status(4) == Status.SUBMITTED
    assert apply_receipt(Status.SUBMITTED, None, Status.SUBMITTED) is None
    assert apply_receipt(Status.DELIVERED, None, Status.DELIVERED) is None
    assert apply_receipt(Status.DELIVERED, None, Status.FAILED) is None  # delivered is final
    assert apply_receipt(Status.SENDING, None, Status.SUBMITTED) == Status.SUBMITTED
    assert apply_receipt(Status.FAILED, OUTCOME_UNKNOWN, Status.FAILED) == Status.FAILED


def test_the_first_retry_waits_the_initial_delay() -> None:
    assert retry_delay(0, initial_s=5, max_s=60) == timedelta(seconds=5)
    assert retry_delay(1, initial_s=5, max_s=60) == timedelta(seconds=5)


def test_only_a_failure_the_service_lost_track_of_is_corrected_by_a_receipt() -> None:
    """The reason is read back from the database (text, not the constant): still recognised.
    A message the operator reported undelivered stays failed."""
    import json

    lost = json.loads(f'"{OUTCOME_UNKNOWN}"')
    assert apply_receipt(Status.FAILED, lost, Status.DELIVERED) == Status.DELIVERED
    assert apply_receipt(Status.FAILED, "undelivered", Status.DELIVERED) is None
