"""Events the notifications service publishes on `notifications.messages.v1` (registered in
`hospital_shared.events.EVENT_TYPES`): the lifecycle of every SMS, for the metrics service's
delivery rate. They carry the template, status and encoding, never a phone number, a name or
the message text.

Types: `sms.submitted` (the gateway accepted it), `sms.delivered` (delivery receipt),
`sms.failed` (refused, undeliverable, invalid number, gateway down past the retry cap, or the
outcome is unknown after a crash), `sms.expired` (its time passed before it could go, or no
final receipt came), `sms.suppressed` (it must not go: opted out, deceased patient).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime

from hospital_shared import topics
from hospital_shared.events import Contract, NonEmpty, register_event
from hospital_shared.vocabulary import EventName
from hospital_shared.vocabulary import SmsStatus as SmsStatus  # named here as it always was


class SmsStatusChanged(Contract):
    message_id: NonEmpty
    template: NonEmpty
    audience: Literal["patient", "staff"]
    status: SmsStatus
    reason: str | None = None  # failed / expired / suppressed: why (no personal data)
    encoding: Literal["gsm7", "ucs2"]
    segments: int
    attempts: int
    source_event_id: NonEmpty
    source_event_type: NonEmpty
    requested_at: AwareDatetime  # when the message was created from its source event
    occurred_at: AwareDatetime


SMS_EVENT_TYPES: tuple[EventName, ...] = (
    EventName.SMS_SUBMITTED,
    EventName.SMS_DELIVERED,
    EventName.SMS_FAILED,
    EventName.SMS_EXPIRED,
    EventName.SMS_SUPPRESSED,
)

for _type in SMS_EVENT_TYPES:
    register_event(_type, SmsStatusChanged, topics.NOTIFICATIONS)


# --- notifications.opt-outs.v1 -------------------------------------------------------
# Opt-outs are written over HTTP (staff) and by patients' replies (MO), not from Kafka: the
# service publishes each one, and each withdrawal, and reads them back itself, so that a
# restore of the database replays those made after the backup like any other event. The
# number and the reason travel as they are stored: sealed under the data key (and the
# number's search hash), never in clear, like the rest of this service's events.


class OptOutRecorded(Contract):
    opt_out_ref: NonEmpty  # the opt-out's own id, the same after a restore (its key)
    patient_id: NonEmpty | None = None
    phone_sealed: str | None = None
    phone_hash: str | None = None
    source: Literal["sms_reply", "api"]
    reason_sealed: str | None = None
    created_by: str | None = None
    created_at: AwareDatetime


class OptOutRevoked(Contract):
    opt_out_ref: NonEmpty
    revoked_by: str | None = None
    revoked_at: AwareDatetime


register_event(EventName.OPT_OUT_RECORDED, OptOutRecorded, topics.OPT_OUTS)
register_event(EventName.OPT_OUT_REVOKED, OptOutRevoked, topics.OPT_OUTS)
