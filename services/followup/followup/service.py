"""What the routes and jobs share: the policy book, the hospital time zone, the runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from fastapi import Request

from followup.policy import PolicyBook
from followup.settings import Settings
from hospital_shared.auth import TokenAuth
from hospital_shared.runtime import ServiceRuntime

POLICY_DEFAULT_FIELDS = (
    "inpatient_due_days", "outpatient_first_visit_rate", "outpatient_return_visit_rate",
    "outpatient_due_days", "call_delay_hours", "working_hours_start", "working_hours_end",
    "use_official_calendar", "max_call_attempts", "retry_spacing_hours", "spot_check_rate",
    "second_call_due_days", "spot_check_due_days", "sms_opt_out_means_no_calls",
    "deceased_handling", "transferred_handling", "fallback_department", "next_call_due_days",
    "expected_unreached_share", "callback_max_days",
)  # fmt: skip


def policy_book(settings: Settings) -> PolicyBook:
    defaults: dict[str, Any] = {name: getattr(settings, name) for name in POLICY_DEFAULT_FIELDS}
    return PolicyBook.build(defaults, settings.department_policies)


@dataclass
class Service:
    settings: Settings
    runtime: ServiceRuntime
    book: PolicyBook
    tz: ZoneInfo

    @classmethod
    def create(cls, settings: Settings, runtime: ServiceRuntime) -> Service:
        return cls(settings, runtime, policy_book(settings), ZoneInfo(settings.hospital_tz))

    @property
    def auth(self) -> TokenAuth:
        return self.runtime.auth

    def pool(self, request: Request | None = None) -> asyncpg.Pool:
        assert self.runtime.pool is not None, "the service has not started"
        return self.runtime.pool
