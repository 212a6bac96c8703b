"""The categories the running complaints service files under, per kind (its `GET
/v1/categories`): what the desk's complaint form, the queue's filter and the praise and
suggestions form offer. A hospital's own (COMPLAINTS_PRAISE_CATEGORIES,
COMPLAINTS_SUGGESTION_CATEGORIES) are offered as it set them; the pages label each by the
catalogue where it has the code and by the code itself otherwise (`wording.label`).

Read with the person's token at most once a minute per console process: the service's
categories change only with its settings, that is with a restart, so a minute late costs
nothing a person notices, and a form shown does not add a call each time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

from console.backend import Backend
from console.session import Session
from hospital_shared.vocabulary import FeedbackKind

CACHE_S = 60.0
COMPLAINT = "complaint"  # the key of the complaints' own categories in the answer
# the kinds `GET /v1/categories` answers: complaints, then praise and suggestions
KINDS = (COMPLAINT, *FeedbackKind)
Offered = dict[str, tuple[str, ...]]


@dataclass
class OfferedCategories:
    """The service's last answer and when it came (this process's monotonic clock)."""

    ttl_s: float = CACHE_S
    clock: Callable[[], float] = time.monotonic
    by_kind: Offered = field(default_factory=dict)
    read_at: float | None = None

    async def read(self, backend: Backend, session: Session) -> Offered:
        now = self.clock()
        if self.read_at is None or now - self.read_at >= self.ttl_s:
            answer = await backend.get(session, "complaints", "/v1/categories")
            self.by_kind = {kind: tuple(answer[kind]) for kind in KINDS}
            self.read_at = now
        return self.by_kind


async def offered(request: Request, session: Session) -> Offered:
    """The categories per kind the complaints service files under now (at most a minute old)."""
    cache: OfferedCategories = request.app.state.categories
    return await cache.read(request.app.state.backend, session)


def last_read(request: Request) -> Offered:
    """What `offered` last read: for a form shown again after its route read them."""
    cache: OfferedCategories = request.app.state.categories
    return cache.by_kind
