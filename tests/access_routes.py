"""Which routes answer with a patient's personal data (and must write access records), and
which do not, with why. `tests/test_access_record_routes.py` fails on a route in neither
list, so a new route is classified by whoever adds it; the integration tests
(`tests/integration/test_access_records.py`) read through every route in `AUDITED`."""

from __future__ import annotations

AUDITED: dict[tuple[str, str, str], str] = {
    ("followup", "GET", "/v1/tasks"): "tasks with patient name, phone, feedback",
    ("followup", "GET", "/v1/tasks/{task_id}"): "a task with patient name, phone, feedback",
    ("followup", "GET", "/v1/worklist"): "a worklist of tasks",
    ("followup", "GET", "/v1/departments/{code}/overview"): "unassigned and overdue tasks",
    ("complaints", "POST", "/v1/cases"): "the opened case, to staff who may read it",
    ("complaints", "GET", "/v1/cases"): "cases with complaint text and contact",
    ("complaints", "GET", "/v1/cases/{number}"): "a case with its text and contact",
    ("complaints", "GET", "/v1/cases/{number}/audit"): "a case's record of steps and notes",
    ("complaints", "POST", "/v1/cases/{number}/transitions"): "answers with the case",
    ("complaints", "POST", "/v1/cases/{number}/satisfaction"): "answers with the case",
    ("complaints", "POST", "/v1/cases/{number}/assignment"): "answers with the case",
    ("notifications", "GET", "/v1/messages"): "a patient's messages",
    ("notifications", "GET", "/v1/messages/{message_id}"): "a message",
    ("notifications", "POST", "/v1/messages/{message_id}/resend"): "answers with the message",
    ("notifications", "GET", "/v1/opt-outs"): "opt-outs, searched by patient or phone",
    ("notifications", "GET", "/v1/inbox"): "staff notes about patients",
    ("notifications", "POST", "/v1/inbox/{message_id}/read"): "answers with the note",
    ("notifications", "GET", "/v1/sms/unsettled"): "which patients' SMS are unsettled",
}

_OPS = "operational, no patient data"
_STAFF = "staff data, no patient data"
_IN = "takes patient data in, answers with ids and counts only"
NO_PATIENT_DATA: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): _OPS,
    ("GET", "/readyz"): _OPS,
    ("GET", "/metrics"): _OPS,
    ("GET", "/asyncapi.json"): _OPS,
    ("GET", "/v1/access-records"): "the access records: ids of patients and staff, no data",
    ("GET", "/v1/access-records/unusual"): "staff ids and counts",
    ("POST", "/v1/tasks/{task_id}/outcome"): _IN,
    ("POST", "/v1/tasks/{task_id}/reassign"): "204, no body",
    ("GET", "/v1/staff"): _STAFF,
    ("PUT", "/v1/staff/{staff_id}"): _STAFF,
    ("GET", "/v1/policy/{department}"): "the follow-up policy",
    ("GET", "/v1/category-rules"): "classification rules",
    ("POST", "/v1/category-rules"): "classification rules",
    ("PATCH", "/v1/category-rules/{rule_id}"): "classification rules",
    ("POST", "/v1/classify"): "classifies the caller's own text",
    ("POST", "/v1/opt-outs"): _IN,
    ("DELETE", "/v1/opt-outs/{opt_out_id}"): "answers with a count",
    ("GET", "/v1/templates"): "message templates",
    ("PUT", "/v1/templates/{name}"): "message templates",
    ("GET", "/v1/staff/{staff_id}/channels"): _STAFF,
    ("PUT", "/v1/staff/{staff_id}/channels"): _STAFF,
    ("GET", "/v1/webhooks"): _STAFF,
    ("PUT", "/v1/webhooks"): _STAFF,
    ("DELETE", "/v1/webhooks/{webhook_id}"): _STAFF,
    ("GET", "/v1/dlr"): "the gateway's delivery receipts",
    ("POST", "/v1/dlr"): "the gateway's delivery receipts",
    ("GET", "/v1/sms/dlr"): "the gateway's delivery receipts",
    ("POST", "/v1/sms/dlr"): "the gateway's delivery receipts",
    ("GET", "/v1/sms/inbound"): "the gateway's replies from patients, answered with nothing",
    ("POST", "/v1/sms/inbound"): "the gateway's replies from patients, answered with nothing",
    ("POST", "/v1/registrations"): _IN,
    ("POST", "/v1/discharges"): _IN,
    ("POST", "/v1/complaints"): _IN,
    ("POST", "/v1/events"): _IN,
    ("GET", "/v1/kpi"): "aggregate KPIs",
    ("GET", "/v1/kpi/report.csv"): "aggregate KPIs",
    ("GET", "/v1/calendar/years"): "the working-day calendar",
    ("GET", "/v1/calendar/years/{year}"): "the working-day calendar",
    ("PUT", "/v1/calendar/years/{year}"): "the working-day calendar",
}
