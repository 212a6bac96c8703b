"""Events the complaints service publishes (registered in `hospital_shared.events.EVENT_TYPES`)."""

from __future__ import annotations
