"""The staff console's page of what a staff notification is about: a case's notice opens the
case, a task's notice the task. The paths are data (`NOTIFICATIONS_CONSOLE_PATHS`), so a
hospital that serves the console elsewhere, or moves a page, changes a setting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote


def console_link(
    message: Mapping[str, Any], *, base_url: str, paths: Mapping[str, str]
) -> str | None:
    """The console URL of a staff message's subject (`case:TS-...` -> `/cases/TS-...`), or
    None: a patient's message, or a subject the console has no page for."""
    if message["audience"] != "staff" or not message["subject_ref"]:
        return None
    kind, _, ref = str(message["subject_ref"]).partition(":")
    path = paths.get(kind)
    if not ref or path is None:
        return None
    return base_url.rstrip("/") + path.format(ref=quote(ref, safe=""))
