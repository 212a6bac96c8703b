"""Parts of a page that come from other services than its main record: a patient's SMS on the
call screen, their complaints on the patient page. One refused (the viewer's role may not
see it, as the service decides) or unavailable part shows why in its place, and the rest of
the page still works."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from console.backend import NotFound, Refused, Unavailable

# A patient's visits on the patient page and the call screen: the newest page of the most the
# registration service answers at once (its lists are pages; a patient's first 200 visits are
# what a person reads, as before the visits were paged).
NEWEST_VISITS = {"limit": 200}


@dataclass
class Section:
    data: Any = None
    refused: str | None = None  # the service's reason
    unavailable: str | None = None  # the service that did not answer
    missing: bool = False


async def section(call: Awaitable[Any]) -> Section:
    try:
        return Section(data=await call)
    except Refused as exc:
        return Section(refused=exc.reason or "-")
    except Unavailable as exc:
        return Section(unavailable=exc.service)
    except NotFound:
        return Section(missing=True)
