"""Which routes answer with a patient's personal data (and must write access records), and
which do not, with why. `tests/test_access_record_routes.py` fails on a route in neither
list, so a new route is classified by whoever adds it; the integration tests
(`tests/integration/test_access_records.py`) read through every route in `AUDITED`."""

from __future__ import annotations

AUDITED: dict[tuple[str, str, str], str] = {
    ("followup", "GET", "/v1/tasks"): "tasks with patient name, phone, feedback",
    ("followup", "GET", "/v1/tasks/{task_id}"): "a task with patient name, phone, feedback",
    ("followup", "GET", "/v1/worklist"): "a worklist of tasks",
    ("followup", "GET", "/v1/worklist/available"): "unassigned tasks one may take",
    ("followup", "POST", "/v1/tasks/{task_id}/take"): "the task taken, with patient name, phone",
    (
        "followup",
        "POST",
        "/v1/tasks/{task_id}/assignment",
    ): "the task moved, with patient name, phone",
    ("followup", "GET", "/v1/departments/{code}/overview"): "unassigned and overdue tasks",
    ("complaints", "POST", "/v1/cases"): "the opened case, to staff who may read it",
    ("complaints", "GET", "/v1/cases"): "cases with complaint text and contact",
    ("complaints", "GET", "/v1/cases/{number}"): "a case with its text and contact",
    ("complaints", "GET", "/v1/cases/{number}/audit"): "a case's record of steps and notes",
    ("complaints", "POST", "/v1/cases/{number}/transitions"): "answers with the case",
    ("complaints", "POST", "/v1/cases/{number}/satisfaction"): "answers with the case",
    ("complaints", "POST", "/v1/cases/{number}/assignment"): "answers with the case",
    ("complaints", "POST", "/v1/cases/{number}/validity"): "answers with the case",
    ("complaints", "POST", "/v1/cases/{number}/escalation"): "answers with the case",
    ("complaints", "POST", "/v1/cases/{number}/imaging-confirmation"): "answers with the case",
    ("complaints", "POST", "/v1/cases/{number}/accountability"): "answers with the case",
    ("complaints", "POST", "/v1/cases/{number}/settlement"): "answers with the case",
    ("complaints", "POST", "/v1/cases/{number}/confidentiality"): "answers with the case",
    ("complaints", "POST", "/v1/cases/{number}/notes"): "answers with the case",
    ("complaints", "POST", "/v1/enquiries"): "the enquiry taken: question, patient name, phone",
    ("complaints", "GET", "/v1/enquiries"): "enquiries with question and patient contact",
    ("complaints", "GET", "/v1/enquiries/{number}"): "an enquiry with its patient and history",
    ("complaints", "POST", "/v1/enquiries/{number}/handover"): "answers with the enquiry",
    ("complaints", "POST", "/v1/enquiries/{number}/answer"): "answers with the enquiry",
    ("complaints", "POST", "/v1/enquiries/{number}/complaint"): "the enquiry and its new case",
    ("complaints", "POST", "/v1/feedback"): "the praise or suggestion: text, patient contact",
    ("complaints", "GET", "/v1/feedback"): "praise and suggestions with text and patient",
    ("complaints", "GET", "/v1/feedback/{number}"): "praise or a suggestion with its patient",
    ("complaints", "POST", "/v1/feedback/{number}/answer"): "answers with the suggestion",
    ("registration", "GET", "/v1/patients"): "patients found by phone, name or id: name, phone",
    ("registration", "GET", "/v1/patients/{patient_id}/visits"): "a patient's visits",
    ("notifications", "GET", "/v1/messages"): "a patient's messages",
    ("notifications", "GET", "/v1/messages/{message_id}"): "a message",
    ("notifications", "POST", "/v1/messages/{message_id}/resend"): "answers with the message",
    ("notifications", "GET", "/v1/opt-outs"): "opt-outs, searched by patient or phone",
    ("notifications", "GET", "/v1/inbox"): "staff notes about patients",
    ("notifications", "POST", "/v1/inbox/{message_id}/read"): "answers with the note",
    ("notifications", "GET", "/v1/sms/unsettled"): "which patients' SMS are unsettled",
    # who read a patient's data: the records a read was of name them (a complaint case)
    **{
        (service, "GET", "/v1/access-records"): "the access log: patients and what was read"
        for service in ("registration", "followup", "complaints", "notifications", "metrics")
    },
}

_OPS = "operational, no patient data"
_STAFF = "staff data, no patient data"
_IN = "takes patient data in, answers with ids and counts only"
NO_PATIENT_DATA: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): _OPS,
    ("GET", "/readyz"): _OPS,
    ("GET", "/metrics"): _OPS,
    ("GET", "/asyncapi.json"): _OPS,
    ("GET", "/v1/access-records/unusual"): "staff ids and counts",
    ("GET", "/s/{token}"): "the survey page: the questions only, no patient named",
    ("POST", "/s/{token}"): "a patient's own answers in, a thank-you page out",
    ("HEAD", "/s/{token}"): "the survey page without its body",
    # every other address and method under /s: the unknown link's page, nothing read
    **{
        (method, path): "the unknown link's page"
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
        for path in ("/s", "/s/", "/s/{rest}")
    },
    ("GET", "/v1/questionnaires"): "the questionnaires in force",
    ("PUT", "/v1/questionnaires/{kind}"): "a questionnaire version",
    ("GET", "/v1/me"): "the caller's own role, staff id and department",
    ("POST", "/v1/tasks/{task_id}/outcome"): _IN,
    ("POST", "/v1/tasks/{task_id}/reassign"): "204, no body",
    ("GET", "/v1/staff"): _STAFF,
    ("GET", "/v1/staff/{staff_id}"): _STAFF,
    ("GET", "/v1/staff-directory"): _STAFF,
    ("PUT", "/v1/staff/{staff_id}"): _STAFF,
    ("GET", "/v1/policy/{department}"): "the follow-up policy",
    ("GET", "/v1/departments"): "department codes and names",
    ("PUT", "/v1/departments/{code}"): "department codes and names",
    ("GET", "/v1/case-workload"): "open cases per handler: staff ids and counts",
    ("GET", "/v1/staff/{staff_id}/handback"): "counts of a member's open work a change hands back",
    ("GET", "/v1/category-rules"): "classification rules",
    ("POST", "/v1/category-rules"): "classification rules",
    ("PATCH", "/v1/category-rules/{rule_id}"): "classification rules",
    ("PUT", "/v1/category-rules/order"): "classification rules",
    ("POST", "/v1/classify"): "classifies the caller's own text",
    ("GET", "/v1/categories"): "the categories filed under",
    ("POST", "/v1/opt-outs"): _IN,
    ("DELETE", "/v1/opt-outs/{opt_out_id}"): "answers with a count",
    ("GET", "/v1/templates"): "message templates",
    ("GET", "/v1/templates/{name}"): "message templates",
    ("PUT", "/v1/templates/{name}"): "message templates",
    ("GET", "/v1/staff/{staff_id}/channels"): _STAFF,
    ("PUT", "/v1/staff/{staff_id}/channels"): _STAFF,
    ("GET", "/v1/webhooks"): _STAFF,
    ("GET", "/v1/duty-rota"): _STAFF,
    ("GET", "/v1/duty-rota/on-duty"): _STAFF,
    ("POST", "/v1/duty-rota"): _STAFF,
    ("DELETE", "/v1/duty-rota/{shift_id}"): _STAFF,
    ("PUT", "/v1/webhooks"): _STAFF,
    ("DELETE", "/v1/webhooks/{webhook_id}"): _STAFF,
    ("GET", "/v1/sms/dlr"): "the gateway's delivery receipts",
    ("POST", "/v1/sms/dlr"): "the gateway's delivery receipts",
    ("GET", "/v1/sms/inbound"): "the gateway's replies from patients, answered with nothing",
    ("POST", "/v1/sms/inbound"): "the gateway's replies from patients, answered with nothing",
    ("POST", "/v1/alerts"): "Alertmanager's alerts, answered with a count",
    ("POST", "/v1/registrations"): _IN,
    ("POST", "/v1/discharges"): _IN,
    ("POST", "/v1/complaints"): _IN,
    ("POST", "/v1/feedback"): _IN,  # registration: a feedback.submitted, answered 202
    ("POST", "/v1/events"): _IN,
    ("GET", "/v1/kpi"): "aggregate KPIs",
    ("GET", "/v1/kpi/report.csv"): "aggregate KPIs",
    ("GET", "/v1/kpi/departments"): "department codes with KPI data",
    ("GET", "/v1/calendar/years"): "the working-day calendar",
    ("GET", "/v1/cases/{number}/accountability"): "who on the staff answers for a case, and the"
    " measure: staff data, for supervisors, directors and admins only",
    ("GET", "/v1/calendar/years/{year}"): "the working-day calendar",
    ("PUT", "/v1/calendar/years/{year}"): "the working-day calendar",
    ("GET", "/v1/kpi/report-quarter.csv"): "aggregate KPIs",
    ("GET", "/v1/kpi/staff"): "per-staff counts and rates for the appraisal, no patient",
    ("POST", "/v1/queue-reports"): "how many wait at a queue, answered with ids only",
    ("GET", "/v1/inbox/unread"): "how many of the caller's own notes are unread: a count",
}
