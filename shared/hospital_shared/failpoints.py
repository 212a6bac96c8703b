"""Failpoints for the fault-injection tests: `HOSPITAL_FAILPOINTS=outbox.before_publish=kill`.

A failpoint does nothing unless its name is listed in the variable, which production never
sets. `kill` sends SIGKILL to this process, exactly like `kill -9` from outside, but at a
precise point (for example between the database commit and the Kafka publish). `transient`
raises a `ConnectionResetError` there, which the service treats as the database or broker
being away: it retries for as long as the failpoint stays.

`HOSPITAL_FAILPOINTS_FILE=<path>` names a file read at every failpoint, holding the same
`name=action` list: a test switches a failpoint on and off in a running process by writing
the file (and gets a process that recovers by itself once it is emptied).
"""

from __future__ import annotations

import os
import signal


def _configured() -> dict[str, str]:
    raw = os.environ.get("HOSPITAL_FAILPOINTS", "")
    path = os.environ.get("HOSPITAL_FAILPOINTS_FILE")
    if path:
        try:
            with open(path) as fh:
                raw += "," + fh.read().replace("\n", ",")
        except FileNotFoundError:
            pass
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {name.strip(): action.strip() for name, action in pairs}


def failpoint(name: str) -> None:
    action = _configured().get(name)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "transient":
        raise ConnectionResetError(f"failpoint {name}: transient failure")
