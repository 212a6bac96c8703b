"""Failpoints for the fault-injection tests: `HOSPITAL_FAILPOINTS=outbox.before_publish=kill`.

A failpoint does nothing unless its name is listed in the variable, which production never
sets. `kill` sends SIGKILL to this process, exactly like `kill -9` from outside, but at a
precise point (for example between the database commit and the Kafka publish).
"""

from __future__ import annotations

import os
import signal


def _configured() -> dict[str, str]:
    raw = os.environ.get("HOSPITAL_FAILPOINTS", "")
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {name.strip(): action.strip() for name, action in pairs}


def failpoint(name: str) -> None:
    if _configured().get(name) == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
