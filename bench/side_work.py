"""What a service did beside its consumers during a drain, read from its own `/metrics` at
the end: passes of its periodic jobs (follow-up's assignment and due scan,
complaints' time-limit timers), SMS and staff notes handed to a gateway. A drain's rate
includes that work (it shares the two cores with the consumer), so the bench reports it
beside the rate instead of leaving it unsaid; what can be held still during a drain
(notifications' SMS dispatcher and survey reminders: `HELD_NOTIFICATIONS_DISPATCH`, with every patient SMS in quiet
hours, `held_quiet_hours`; follow-up's due scan and assignment: `HELD_FOLLOWUP_JOBS`) is held,
and the bench says so."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, time, timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.stack import Proc

# family (as the parser names it, without `_total`) -> the label that names the series
COUNTED = {
    "hospital_job_runs": "job",
    "notifications_sms_handed": "template",
    "notifications_staff_handed": "channel",
    # follow-up's due and overdue events queued by its scan (the passes: `hospital_job_runs`)
    "followup_timer_transitions": "kind",
}


async def scrape(url: str) -> dict[str, float]:
    """`family:label` -> value for the counters in COUNTED (empty when unreachable)."""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            text = (await client.get(f"{url}/metrics")).text
    except httpx.HTTPError:
        return {}
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        label = COUNTED.get(family.name)
        if label is None:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                key = f"{family.name}:{sample.labels.get(label, '')}"
                counts[key] = counts.get(key, 0.0) + sample.value
    return counts


async def since_launch(procs: Sequence[Proc]) -> dict[str, int]:
    """What the instances have done since they were launched (their counters start at 0),
    only what they did."""
    total: Counter[str] = Counter()
    for proc in procs:
        for key, value in (await scrape(proc.url)).items():
            total[key] += int(value)
    return {k: int(v) for k, v in sorted(total.items()) if v}


def held_quiet_hours(local_now: datetime) -> dict[str, str]:
    """Notifications' quiet hours for a drain: the whole day but one minute that has just
    passed, so that every patient SMS the drain plans waits for the next day, whatever the
    hour of the run; the dispatcher hands nothing to Kannel during the drain and the rate
    is the consumer's. (The latency phase runs without quiet hours: there, SMS go out.)"""
    start = (local_now - timedelta(minutes=2)).time().replace(second=0, microsecond=0)
    end = (datetime.combine(local_now.date(), start) - timedelta(minutes=1)).time()
    return {
        "NOTIFICATIONS_QUIET_HOURS_START": _hhmm(start),
        "NOTIFICATIONS_QUIET_HOURS_END": _hhmm(end),
    }


# Follow-up's periodic passes during a drain: their first pass at start-up, then none for an
# hour, and that first pass in one go (a batch larger than the backlog: it goes again at once
# only after a full batch). The backlog's calls fall due (its visits are days old): with the
# scan every 30 s and batches of 500, a pass came during most drains and went on while it
# found a full batch (1 to 14 passes in drains of 20,000 events, up to 14,000 due and overdue
# events published besides), so drains of the same code did not compare. The pass at
# start-up still runs while the consumer plans and takes what is due by then: what it
# published is reported (`followup_timer_transitions`). A hospital catching up on a backlog
# has that work too.
HELD_FOLLOWUP_JOBS = {
    "FOLLOWUP_SCAN_INTERVAL_S": "3600",
    "FOLLOWUP_ASSIGN_INTERVAL_S": "3600",
    "FOLLOWUP_JOB_BATCH_SIZE": "1000000",
}
# The scaling steps hold the start-up pass too: each instance ran its own, the later ones on
# the tasks the first had planned meanwhile (71,055 and 84,562 due and overdue events inside
# the timed window of 2 and 3 instances against 5,092 at one, session 17).
HELD_FOLLOWUP_START = {"FOLLOWUP_JOBS_START_DELAY_S": "3600"}


# Notifications' SMS dispatcher during a drain: paused. Quiet hours alone held the hand-over
# only: the dispatcher still claimed every message as it fell due, deferred it again and
# expired those past their time, each expiry a status event (outbox, relay, Kafka). The
# bench's backlog is 3 to 10 days old, so most survey invitations and discharge notices are
# past their time when planned: in a 20,000-event drain at 06:17 in Shanghai it expired
# 18,110 messages and wrote 18,494 outbox rows during the drain (session 17), and how many
# depends on the hour (the surveys' windows end on local days). A hospital catching up on a
# backlog has that work too, after its consumers; the drain measures the consumer.
# notifications' SMS dispatcher and its survey reminders (made when due: a backlog days old
# has most of them due at once)
HELD_NOTIFICATIONS_DISPATCH = {
    "NOTIFICATIONS_SMS_DISPATCH_PAUSED": "true",
    "NOTIFICATIONS_SURVEY_REMINDERS_PAUSED": "true",
}


def _hhmm(t: time) -> str:
    return t.strftime("%H:%M")
