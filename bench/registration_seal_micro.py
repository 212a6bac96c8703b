"""Micro-bench of sealing the visits' records (registration migration 370): what a visit costs
the store layer on the ingest's hot path before (the record's JSON to a jsonb column, the
phone taken out by PostgreSQL) and after (the JSON without the phone, sealed, to a text
column; the name and appointment time beside it), and reading one back (json.loads, and
opening it first).

    uv run python -m bench.registration_seal_micro [--database-url postgresql://...]

Python: µs a visit, median of 7 rounds of N (min, max): a new registration (its model, as
an A04 or a POST makes it) and a stored discharge (a dict, as a later batch loads it).
With `--database-url`: the upsert of 1,000 visits into a temporary table as before and as
after, taking turns (7 pairs), µs a visit on the server (its wall time; nothing else is
written). The machine is shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from pydantic_core import to_json

from bench.crypto_micro import ROUNDS, per_op_us
from hospital_shared.events import PatientDischarged, RegistrationCreated
from registration.domain import Kind, Status, Visit
from registration.repository import appointment_of, patient_field, sealed_record, stored_record

BATCH = 1000


def us(op: Callable[[], object], n: int) -> str:
    took = per_op_us(op, n)
    return f"{took['median_us']:7.2f} ({took['min_us']:.2f}-{took['max_us']:.2f})"


PATIENT = {"patient_id": "P000007", "name": "张三", "phone": "+8613800138000"}
DEPARTMENT = {"code": "CARD", "name": "心内科"}
DOCTOR = {"id": "D001", "name": "李明"}


def visits() -> dict[str, Visit]:
    booked = {"registration_id": "R000007", "patient": PATIENT, "department": DEPARTMENT,
              "doctor": DOCTOR, "visit_type": "first", "channel": "online",
              "registered_at": "2026-11-23T09:30:00+08:00",
              "appointment_at": "2026-12-01T08:00:00+08:00"}  # fmt: skip
    stay = {"admission_id": "A000007", "patient": PATIENT, "department": DEPARTMENT,
            "attending_doctor": DOCTOR, "admitted_at": "2026-11-18T08:00:00+08:00",
            "discharged_at": "2026-11-23T10:00:00+08:00", "disposition": "home",
            "diagnosis": "2型糖尿病伴周围神经病变，高血压3级（极高危）"}  # fmt: skip
    stored = PatientDischarged.model_validate(stay).model_dump(mode="json", exclude_none=True)
    return {
        "new registration (model)": Visit(
            Kind.REGISTRATION, "R7", "P7", Status.REGISTERED,
            RegistrationCreated.model_validate(booked),
        ),
        "stored discharge (dict)": Visit(Kind.ADMISSION, "A7", "P7", Status.DISCHARGED, stored),
    }  # fmt: skip


def before_write(visit: Visit) -> tuple[Any, ...]:
    """The record as the store wrote it before: its JSON (PostgreSQL took the phone out)."""
    record = visit.record
    if isinstance(record, RegistrationCreated):
        return (to_json(record, exclude_none=True).decode(),)
    return (to_json(record).decode(),)


def after_write(visit: Visit) -> tuple[Any, ...]:
    """The record as the store writes it now: sealed, the name and appointment beside it."""
    return sealed_record(visit), patient_field(visit, "name"), appointment_of(visit)


def python_side(n: int) -> None:
    print(f"python, µs a visit, median of {ROUNDS} rounds of {n} (min-max)")
    for name, visit in visits().items():
        plain = before_write(visit)[0]
        sealed = after_write(visit)[0]
        row = {"record": sealed, "patient_id": "P7", "patient_phone": None}
        print(f"  {name}: {len(plain)} bytes of JSON, {len(sealed or '')} sealed")
        print(f"    write before {us(partial(before_write, visit), n)}")
        print(f"    write after  {us(partial(after_write, visit), n)}")
        print(f"    read before  {us(partial(json.loads, plain), n)}")
        print(f"    read after   {us(partial(stored_record, row), n)}")


BEFORE_TABLE = "CREATE TEMP TABLE v_before (k text, i text, r jsonb, PRIMARY KEY (k, i))"
AFTER_TABLE = (
    "CREATE TEMP TABLE v_after (k text, i text, r text, n text, a timestamptz, PRIMARY KEY (k, i))"
)
BEFORE_UPSERT = (
    "INSERT INTO v_before SELECT k, i, r::jsonb #- '{patient,phone}'"
    " FROM unnest($1::text[], $2::text[], $3::text[]) AS t(k, i, r)"
    " ON CONFLICT (k, i) DO UPDATE SET r = EXCLUDED.r"
)
AFTER_UPSERT = (
    "INSERT INTO v_after SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
    " $5::timestamptz[]) ON CONFLICT (k, i) DO UPDATE SET r = EXCLUDED.r, n = EXCLUDED.n,"
    " a = EXCLUDED.a"
)


async def database_side(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(BEFORE_TABLE)
        await conn.execute(AFTER_TABLE)
        visit = visits()["new registration (model)"]
        keys = (["registration"] * BATCH, [f"R{i}" for i in range(BATCH)])
        plain = [before_write(visit)[0] for _ in range(BATCH)]
        after = list(zip(*(after_write(visit) for _ in range(BATCH)), strict=True))
        took: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(ROUNDS):
            for name, sql, args in (("before", BEFORE_UPSERT, (plain,)),
                                    ("after", AFTER_UPSERT, after)):  # fmt: skip
                start = time.perf_counter()
                await conn.execute(sql, *keys, *(list(a) for a in args))
                took[name].append((time.perf_counter() - start) / BATCH * 1e6)
    finally:
        await conn.close()
    print(f"postgresql, upsert of {BATCH} registrations, µs a visit, {ROUNDS} pairs in turn")
    for name, rounds in took.items():
        print(f"  {name}: {statistics.median(rounds):.2f} ({min(rounds):.2f}-{max(rounds):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    print("load average", [round(x, 1) for x in os.getloadavg()])
    python_side(args.n)
    if args.database_url:
        asyncio.run(database_side(args.database_url))


if __name__ == "__main__":
    main()
