"""Reading the effects a run actually had, and comparing them with the expected ones."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import asyncpg

from hospital_shared.field_crypto import open_
from hospital_shared.topics import COMPLAINTS_IN, INPUT_TOPICS, dead_letter_topic
from simulator.expected import PATIENT_TEMPLATES, Expected
from tests.kafka_tools import read_all

_GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>$")


@dataclass(frozen=True)
class Check:
    name: str
    expected: str
    actual: str
    ok: bool
    detail: str = ""


def _cmp(name: str, expected: Any, actual: Any, detail: str = "") -> Check:
    return Check(name, _short(expected), _short(actual), expected == actual, detail)


def _short(value: Any) -> str:
    if isinstance(value, (dict, Counter)):
        return f"{sum(1 for _ in value)} keys"
    return str(value)


def phone_digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)[-11:]


def sms_at_operator(log: Path, offset: int) -> Counter[str]:
    """Complete SMS the fake SMSC received after byte `offset` of its log, by phone (the
    parts of a concatenated SMS count once: its first part)."""
    got: Counter[str] = Counter()
    with log.open("rb") as fh:
        fh.seek(offset)
        text = fh.read().decode(errors="replace")
    for line in text.splitlines():
        match = _GOT.search(line)
        if not match:
            continue
        _, to, kind, rest = match.groups()
        if kind == "udh":
            udh = unquote_to_bytes(rest.split(" ", 1)[0])
            if len(udh) >= 6 and udh[5] != 1:
                continue
        got[phone_digits(to)] += 1
    return got


async def actual_and_checks(
    database_url: str,
    bootstrap: str,
    expected: Expected,
    *,
    run_id: str,
    department_tag: str,
    fakesmsc_log: Path,
    fakesmsc_offset: int,
    sent_before: datetime,
) -> list[Check]:
    like = f"%{run_id}H%"
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT task_id, status FROM followup.follow_up_tasks WHERE task_id LIKE $1", like
        )
        tasks = {
            r["task_id"]: ("withdrawn" if r["status"] == "withdrawn" else "open") for r in rows
        }
        case_rows = await conn.fetch(
            "SELECT channel, external_id, count(*) AS n FROM complaints.cases"
            " WHERE external_id LIKE $1 GROUP BY 1, 2",
            like,
        )
        msg_rows = await conn.fetch(
            "SELECT patient_id, template, status, status_reason, handed_at, to_number"
            " FROM notifications.messages"
            " WHERE patient_id LIKE $1 AND template = ANY($2::text[])",
            like,
            list(PATIENT_TEMPLATES),
        )
        counter_rows = await conn.fetch(
            "SELECT metric, sum(value)::bigint AS n FROM metrics.counter_totals"
            " WHERE labels::jsonb ->> 'department' LIKE $1 GROUP BY 1",
            f"%-{department_tag}",
        )
    finally:
        await conn.close()
    checks: list[Check] = []

    missing = sorted(set(expected.tasks) - set(tasks))
    extra = sorted(set(tasks) - set(expected.tasks))
    wrong = sorted(t for t in expected.tasks if t in tasks and tasks[t] != expected.tasks[t])
    checks.append(
        Check(
            "follow-up tasks (id and open/withdrawn)",
            f"{len(expected.tasks)} ({sum(v == 'withdrawn' for v in expected.tasks.values())} withdrawn)",
            f"{len(tasks)} ({sum(v == 'withdrawn' for v in tasks.values())} withdrawn)",
            not missing and not extra and not wrong,
            f"missing {missing[:3]} extra {extra[:3]} wrong status {wrong[:3]}",
        )
    )

    cases = Counter({(r["channel"], r["external_id"]): r["n"] for r in case_rows})
    dup_cases = [k for k, n in cases.items() if n > 1]
    checks.append(
        Check(
            "complaint cases (one per complaint)",
            str(len(expected.cases)),
            f"{len(cases)} ({len(dup_cases)} duplicated)",
            set(cases) == expected.cases and not dup_cases,
            f"missing {sorted(expected.cases - set(cases))[:3]}",
        )
    )

    rows_by_key: Counter[tuple[str, str]] = Counter(
        (r["patient_id"], r["template"]) for r in msg_rows
    )
    want = expected.sms_rows()
    maybe = Counter((s.patient_id, s.template) for s in expected.sms_maybe)
    bad = [
        k
        for k in set(want) | set(rows_by_key)
        if not want[k] <= rows_by_key[k] <= want[k] + maybe[k]
    ]
    checks.append(
        Check(
            "patient SMS planned (per patient and template)",
            f"{sum(want.values())} (+{sum(maybe.values())} timing-dependent)",
            str(sum(rows_by_key.values())),
            not bad,
            f"mismatch {sorted(bad)[:3]}",
        )
    )

    handed = Counter((r["patient_id"], r["template"]) for r in msg_rows if r["handed_at"])
    must = Counter((s.patient_id, s.template) for s in expected.must_send(sent_before))
    unsent = [k for k, n in must.items() if handed[k] < n]
    checks.append(
        Check(
            "patient SMS due were handed to Kannel",
            f">= {sum(must.values())}",
            str(sum(handed.values())),
            not unsent,
            f"not handed {sorted(unsent)[:3]}",
        )
    )

    checks += operator_checks(msg_rows, sms_at_operator(fakesmsc_log, fakesmsc_offset))

    got_counters = {r["metric"]: int(r["n"]) for r in counter_rows}
    for metric, n in sorted(expected.counters.items()):
        checks.append(_cmp(f"counter {metric}", n, got_counters.get(metric, 0)))

    dead = 0
    for topic in INPUT_TOPICS:
        for record in await read_all(bootstrap, dead_letter_topic(topic)):
            if record.value and run_id.encode() + b"H" in record.value:
                dead += 1
    checks.append(_cmp("dead-lettered events of the run", 0, dead))
    return checks


# The services that consume hospital.complaints.v1, each in its own group.
COMPLAINT_READERS = ("complaints", "metrics", "notifications")


async def oversized_check(bootstrap: str, marker: str) -> Check:
    """Every reader of the complaints topic dead-lettered the oversized record `marker` as a
    reference (it cannot be dead-lettered whole) instead of retrying it for ever."""
    services = set()
    for record in await read_all(bootstrap, dead_letter_topic(COMPLAINTS_IN)):
        headers = {k: v.decode(errors="replace") for k, v in record.headers}
        if headers.get("dlq-reference") == "true" and marker.encode() in record.value[:300]:
            services.add(headers.get("dlq-service", "?"))
    return Check(
        "oversized complaint: a DLQ reference from each reader",
        str(len(COMPLAINT_READERS)),
        str(len(services)),
        services == set(COMPLAINT_READERS),
        f"from {sorted(services)}, expected {list(COMPLAINT_READERS)}",
    )


def _phone(row: Any) -> str:
    return phone_digits(open_(row["to_number"]) or "")  # sealed at rest (field_crypto.py)


def operator_checks(msg_rows: list[Any], at_operator: Counter[str]) -> list[Check]:
    """SMS at the operator against those handed to Kannel. A message whose hand-over the
    service lost track of and Kannel's log does not show (`failed` / outcome_unknown) may or
    may not have gone, and is never re-sent (at most once): it is reported on its own line,
    neither lost nor a duplicate."""
    handed = [r for r in msg_rows if r["handed_at"] is not None]
    unknown = [
        r for r in handed if r["status"] == "failed" and r["status_reason"] == "outcome_unknown"
    ]
    least: Counter[str] = Counter(_phone(r) for r in handed)
    most = Counter(least)
    least.subtract(_phone(r) for r in unknown)
    lost = {p: n for p, n in least.items() if at_operator[p] < n}
    dup = {p: at_operator[p] for p, n in most.items() if at_operator[p] > n}
    went = sum(1 for r in unknown if at_operator[_phone(r)] >= most[_phone(r)])
    waiting = sum(1 for r in handed if r["status"] == "submitted")
    return [
        Check(
            "SMS at the operator (fakesmsc): none lost, none twice",
            f"{sum(least.values())}..{sum(most.values())}",
            str(sum(at_operator[p] for p in most)),
            not lost and not dup,
            f"short {list(lost.items())[:3]} twice {list(dup.items())[:3]}",
        ),
        Check(
            "SMS with an unknown outcome (not re-sent)",
            "reported",
            f"{len(unknown)} ({went} at the operator)",
            True,
        ),
        Check("SMS still waiting for a receipt (submitted)", "reported", str(waiting), True),
    ]


def table(faults: list[tuple[str, str]], checks: list[Check]) -> str:
    lines = ["", "Faults injected", "-" * 100]
    lines += [f"  {at:>8}  {what}" for at, what in faults]
    lines += ["", "Effects checked", "-" * 100]
    lines.append(f"  {'effect':<52} {'expected':>22} {'actual':>20}  ok")
    for c in checks:
        mark = "✓" if c.ok else "✗"
        lines.append(f"  {c.name:<52} {c.expected:>22} {c.actual:>20}  {mark}")
        if not c.ok and c.detail:
            lines.append(f"      {c.detail}")
    return "\n".join(lines)


def as_json(checks: list[Check]) -> str:
    return json.dumps([c.__dict__ for c in checks], ensure_ascii=False, indent=1)
