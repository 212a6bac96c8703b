"""Survey links: the opaque token in a patient's SMS, and how it is made, found and limited.
Pure: no I/O.

The token is `HMAC-SHA256(survey_secret, link_id)`, base64url, 32 characters (192 bits):
unguessable, and naming no patient, phone or visit. The database keeps only the link id and
the SHA-256 of the token (`survey_links.token_hash`), never the token: a copy of the database
alone opens no survey. The message row keeps the link as `<base>/~<link id>` (31 hex
characters, so the text has the length it will have), and the dispatcher puts the token in
its place when it hands the SMS to the gateway (`reveal`). The invitation and its one
reminder carry the same link; the reminder is made when it falls due, if the survey is still
unanswered then (survey_reminders.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

TOKEN_CHARS = 32
_LINK_ID_CHARS = TOKEN_CHARS - 1  # "~" + the link id has the token's length
_TOKEN = re.compile(rf"^[A-Za-z0-9_-]{{{TOKEN_CHARS}}}$")
_HIDDEN = re.compile(rf"/~([0-9a-f]{{{_LINK_ID_CHARS}}})")


@dataclass(frozen=True, slots=True)
class SurveyRules:
    """Which contacts get a survey by SMS link, and when (settings `survey_*`, whose default
    is every kind of contact; here none, so rules built by hand plan no survey unasked)."""

    contacts: frozenset[str] = frozenset()
    delay: timedelta = timedelta(hours=24)  # after the visit (its appointment) or discharge
    complaint_check_delay: timedelta = timedelta(hours=72)  # after closing (within a week)
    link_validity: timedelta = timedelta(days=7)
    reminder_after: timedelta | None = timedelta(hours=72)  # None: no reminder
    link_base: str = "http://127.0.0.1:8004/s"


@dataclass(slots=True)  # not frozen, as policy.Planned (made for most events)
class SurveyLink:
    """A link to create with its invitation: which contact it surveys, and until when."""

    link_id: str
    patient_id: str
    contact_ref: str
    contact_kind: str
    department_code: str | None
    expires_at: datetime
    case_cycle: int | None = None  # a complaint check: the cycle it asks about
    # its reminder, made when due (survey_reminders.py): when, and the key of its message
    reminder_due_at: datetime | None = None
    reminder_key: str | None = None


def link_id_for(source_event_id: str, contact_ref: str) -> str:
    """One link per source event and contact: an event read twice makes the same link."""
    digest = hashlib.sha256(f"survey:{source_event_id}:{contact_ref}".encode()).hexdigest()
    return digest[:_LINK_ID_CHARS]


def hidden_url(base: str, link_id: str) -> str:
    """The link as the message row keeps it (no token)."""
    return f"{base.rstrip('/')}/~{link_id}"


def token_for(secret: str, link_id: str) -> str:
    mac = _keyed(secret).copy()
    mac.update(f"survey-link:{link_id}".encode())
    return base64.urlsafe_b64encode(mac.digest()).decode()[:TOKEN_CHARS]


@lru_cache(maxsize=4)
def _keyed(secret: str) -> hmac.HMAC:
    """The HMAC with `secret` set, copied for each token: setting a key up with OpenSSL 3
    is most of a token's HMAC (4 against 13-18 us; a drain makes a link for most visits)."""
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def is_token(text: str) -> bool:
    """Shaped like a token: anything else is refused before the database is asked."""
    return bool(_TOKEN.match(text))


def reveal(body: str, secret: str) -> str:
    """The SMS text with each hidden link's token in place (sent, never stored)."""
    return _HIDDEN.sub(lambda m: "/" + token_for(secret, m.group(1)), body)


def hidden_links(body: str) -> list[str]:
    """The link ids hidden in a message's text."""
    return _HIDDEN.findall(body)


def reveal_rotated(body: str, secrets: tuple[str, ...], stored: Mapping[str, bytes]) -> str:
    """`reveal` after a rotation: each link's token made with the first of `secrets` (the
    current one, then earlier ones) whose token has the hash stored for it (`stored`: link id
    -> `token_hash`), as the link was made; with the current one when none has."""

    def token(link_id: str) -> str:
        made = (token_for(secret, link_id) for secret in secrets)
        found = next((t for t in made if token_hash(t) == stored.get(link_id)), None)
        return found or token_for(secrets[0], link_id)

    return _HIDDEN.sub(lambda m: "/" + token(m.group(1)), body)


def csrf_matches(secrets: tuple[str, ...], hashed: bytes, nonce: str, given: str) -> bool:
    """`given` is the form's CSRF value under one of `secrets` (a form shown before a
    rotation is still taken)."""
    # as bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, a 500)
    wanted = given.encode()
    return any(hmac.compare_digest(csrf_for(s, hashed, nonce).encode(), wanted) for s in secrets)


def csrf_for(secret: str, hashed: bytes, nonce: str) -> str:
    """The form's CSRF value: bound to the link and to the nonce in the page's cookie, so a
    form posted from another site (without the cookie) or for another link is refused."""
    data = b"survey-csrf:" + hashed + nonce.encode()
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()[:32]


class RateLimiter:
    """At most `limit` requests per key in any `window_s` seconds (a sliding log), in this
    process's memory, keeping at most `max_keys` keys (the oldest are forgotten first)."""

    def __init__(self, limit: int, window_s: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._hits: OrderedDict[str, list[float]] = OrderedDict()

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        hits = [t for t in self._hits.pop(key, []) if now - t < self.window_s]
        allowed = len(hits) < self.limit
        if allowed:
            hits.append(now)
        self._hits[key] = hits
        while len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)
        return allowed
