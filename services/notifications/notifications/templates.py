"""Message templates: the defaults (Chinese), and rendering with Jinja2.

The defaults seed the `templates` table once; after that the hospital's edits win. Templates
render in a sandbox with strict undefined variables, so a typo in an edited template is
refused when it is saved rather than producing a broken SMS.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, meta, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from hospital_shared.bounds import storable_text

# What one rendering may cost. A template is code a supervisor writes, run inside the event
# loop when it is saved and for every message: '{{ 1/0 }}' was a 500, '{{ "x" * 10**9 }}' a
# gigabyte, two nested range(100000) loops a service that never answered again, and
# '{{ "\\u0000" }}' a NUL in every message, which PostgreSQL refuses.
MAX_RENDERED_CHARS = 10_000  # the digest of many tasks is the longest message
MAX_LOOP_STEPS = 10_000  # all the range() items of one rendering together
MAX_POWER_BITS = 4_096
MAX_ARGUMENT = 1_000  # any number given to a function, method or filter (a width, a count)
_steps_left: ContextVar[int] = ContextVar("template_steps_left", default=MAX_LOOP_STEPS)


class _BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox (no attribute tricks) that also refuses what makes text without bound:
    repeating text or lists, %-formatting and str.format (widths), numbers past MAX_ARGUMENT
    given to a call or filter (ljust, center, indent, batch, ...), powers past
    MAX_POWER_BITS; range() items count against MAX_LOOP_STEPS."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        numbers = isinstance(left, int | float) and isinstance(right, int | float)
        if operator in ("*", "%") and not numbers:
            raise SecurityError("a template may not repeat or %-format text or lists")
        if operator == "**" and numbers and abs(right) > 1:
            bits = abs(int(left)).bit_length() * abs(int(right))
            if bits > MAX_POWER_BITS:
                raise SecurityError("the power is too large for a template")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(__obj, "__name__", "") in ("format", "format_map"):
            raise SecurityError("a template may not call format")
        _check_arguments(args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


def _check_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int | float) and abs(value) > MAX_ARGUMENT:
            raise SecurityError(f"a template may pass numbers up to {MAX_ARGUMENT} only")


def _bounded_filter(name: str, function: Any) -> Any:
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_arguments(args[1:], kwargs)  # the first is the value filtered
        return function(*args, **kwargs)

    bounded.__name__ = name
    for marker in ("jinja_pass_arg",):
        if hasattr(function, marker):
            setattr(bounded, marker, getattr(function, marker))
    return bounded


def _counted_range(*args: int) -> range:
    steps = range(*args)
    left = _steps_left.get() - len(steps)
    if left < 0:
        raise SecurityError(f"a template may loop at most {MAX_LOOP_STEPS} times")
    _steps_left.set(left)
    return steps


_ENV = _BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
_ENV.globals["range"] = _counted_range
for _name in ("lipsum", "cycler", "joiner"):
    _ENV.globals.pop(_name, None)
_ENV.filters.pop("format", None)
_ENV.filters = {name: _bounded_filter(name, f) for name, f in _ENV.filters.items()}


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    name: str
    audience: str  # patient | staff
    body: str
    urgent: bool = False
    send_to_deceased: bool = False
    description: str = ""
    # Says that the patient complained, or names a case: shown only to those who may see
    # complaints (`access.py`); others see a neutral kind.
    reveals_complaint: bool = False


_OPT_OUT_HINT = "回复退订不再接收"
# A staff note about a task or case ends with its console page (CONSOLE_BASE_URL), when set.
_CONSOLE_LINK = "{% if link %} {{ link }}{% endif %}"

DEFAULT_TEMPLATES: tuple[TemplateSpec, ...] = (
    TemplateSpec(
        "appointment_reminder",
        "patient",
        "【{{ hospital }}】您好，您已预约{{ appointment_time }}{{ department }}"
        "{% if doctor %}{{ doctor }}医生{% endif %}门诊，请携带身份证或医保卡提前到院。"
        "如需取消请提前办理。" + _OPT_OUT_HINT,
        description="Appointment reminder, the evening before (or a set time before) the visit",
    ),
    TemplateSpec(
        "discharge_care_notice",
        "patient",
        "【{{ hospital }}】{{ department }}提醒您：出院后请遵医嘱按时用药、按期复查，"
        "如有不适请及时就医或致电{{ hotline }}。祝您早日康复！" + _OPT_OUT_HINT,
        description="Care notice after a discharge home",
    ),
    TemplateSpec(
        "discharge_safety_notice",
        "patient",
        "【{{ hospital }}】{{ department }}提醒您：如出现不适，请及时就医，"
        "或致电{{ hotline }}咨询。" + _OPT_OUT_HINT,
        description="Neutral notice after a discharge against medical advice (no good wishes)",
    ),
    TemplateSpec(
        "followup_survey_invitation",
        "patient",
        "【{{ hospital }}】您好，我们近期未能电话联系到您。诚邀您参加就医满意度调查：{{ survey_url }} 。"
        + _OPT_OUT_HINT,
        description="Survey invitation after a follow-up call ended unreachable",
    ),
    TemplateSpec(
        "complaint_acknowledgement",
        "patient",
        "【{{ hospital }}】您的投诉已受理，案件编号{{ case_number }}。我们将于{{ response_by }}前"
        "答复您，如有疑问请致电{{ hotline }}。",
        send_to_deceased=True,  # the family may have lodged it; neutral wording
        description="Complaint acknowledgement with the case number and promised response time",
        reveals_complaint=True,
    ),
    TemplateSpec(
        "complaint_outcome",
        "patient",
        "【{{ hospital }}】您的投诉（案件编号{{ case_number }}）已处理完毕，处理结果已与您沟通。"
        "如有疑问请致电{{ hotline }}。",
        send_to_deceased=True,
        description="Complaint outcome, when the case is communicated or closed",
        reveals_complaint=True,
    ),
    TemplateSpec(
        "staff_task_assigned",
        "staff",
        "【回访任务】您有新的回访任务{{ task_id }}（{{ kind }}），请于{{ due }}前完成。"
        + _CONSOLE_LINK,
        description="A follow-up task assigned to a staff member",
    ),
    TemplateSpec(
        "staff_task_overdue",
        "staff",
        "【回访逾期】回访任务{{ task_id }}（{{ kind }}）已逾期，应于{{ due }}完成，请尽快处理。"
        + _CONSOLE_LINK,
        description="A follow-up task is overdue",
    ),
    TemplateSpec(
        "staff_case_assigned",
        "staff",
        "【投诉处理】投诉案件{{ case_number }}（{{ category }}，优先级{{ priority }}）已分派给您，"
        "首次答复时限{{ response_by }}。" + _CONSOLE_LINK,
        description="A complaint case assigned to a handler",
        reveals_complaint=True,
    ),
    TemplateSpec(
        "staff_case_time_limit_warning",
        "staff",
        "【投诉预警】案件{{ case_number }}的{{ limit }}时限将于{{ due }}到期，请督办。"
        + _CONSOLE_LINK,
        description="A complaint time limit reached 80%: to the supervisor",
        reveals_complaint=True,
    ),
    TemplateSpec(
        "staff_case_time_limit_breach",
        "staff",
        "【投诉超时】案件{{ case_number }}的{{ limit }}时限已于{{ due }}超时，请立即处理。"
        + _CONSOLE_LINK,
        urgent=True,
        description="A complaint time limit was breached: to the supervisor, at once",
        reveals_complaint=True,
    ),
)

DEFAULT_TEMPLATES += (
    TemplateSpec(
        "staff_digest",
        "staff",
        "【待办汇总】您有{{ count }}项新分派的工作：\n"
        "{% for item in items %}{{ loop.index }}. {{ item }}\n{% endfor %}"
        "{% if more %}另有{{ more }}项，请登录系统查看。{% endif %}",
        description="The digest of routine assignments (tasks, cases), at the digest time",
        reveals_complaint=True,
    ),
)

# Enquiries (咨询) and praise (表扬), from the complaints service's enquiry events.
DEFAULT_TEMPLATES += (
    TemplateSpec(
        "staff_enquiry_time_limit_warning",
        "staff",
        "【咨询预警】咨询{{ enquiry_number }}的{{ limit }}时限将于{{ due }}到期，请督办。"
        + _CONSOLE_LINK,
        description="An enquiry reached 80% of its time limit: to the supervisor",
    ),
    TemplateSpec(
        "staff_enquiry_escalation",
        "staff",
        "【咨询超时】咨询{{ enquiry_number }}的{{ limit }}时限已于{{ due }}超时，"
        "已升级由您督办，请立即处理。" + _CONSOLE_LINK,
        urgent=True,
        description="An enquiry breached its time limit: escalated to the supervisor, at once",
    ),
    TemplateSpec(
        "staff_enquiry_handed_over",
        "staff",
        "【咨询转交】咨询{{ enquiry_number }}（{{ limit }}）已由{{ from_staff }}转交给您，"
        "请于{{ due }}前答复。" + _CONSOLE_LINK,
        description="An enquiry handed over to a colleague (首问负责: it is theirs now): to them",
    ),
    TemplateSpec(
        "staff_praise_received",
        "staff",
        "【患者表扬】本科室收到患者表扬{{ feedback_number }}（{{ category }}），"
        "请登录系统查看并转达。",
        description="Praise of the department or one of its staff: to its supervisor",
    ),
)

# Registration queues above their limit (挂号排队), from the metrics service's episodes.
DEFAULT_TEMPLATES += (
    TemplateSpec(
        "staff_queue_over_limit",
        "staff",
        "【挂号排队】{{ queue }}排队{{ length }}人，已超过{{ limit }}人（{{ since }}起），"
        "请及时处理。",
        urgent=True,
        description="A registration queue went above its limit: to the supervisor, at once",
    ),
)

# Escalation above the supervisor (issue 21): the director (院长/主任) is told at once.
DEFAULT_TEMPLATES += (
    TemplateSpec(
        "staff_case_escalated",
        "staff",
        "【投诉上报】投诉案件{{ case_number }}（{{ category }}，优先级{{ priority }}）已上报您批示，"
        "请于{{ due }}前处理。" + _CONSOLE_LINK,
        urgent=True,
        description="A complaint case escalated to the director (serious, medical dispute, or"
        " beyond the supervisor)",
        reveals_complaint=True,
    ),
)

# Prometheus alerts through Alertmanager (issue 20): to the on-duty supervisor, at once.
DEFAULT_TEMPLATES += (
    TemplateSpec(
        "staff_monitoring_alert",
        "staff",
        "【系统告警】{{ alert }}（{{ severity }}）：{{ summary }}（{{ since }}起），请及时处理。",
        urgent=True,
        description="A Prometheus alert (service down, SMS gateway failing, KPI off target):"
        " to the on-duty supervisor, at once",
    ),
    TemplateSpec(
        "staff_monitoring_alert_resolved",
        "staff",
        "【告警解除】{{ alert }}（{{ severity }}）：{{ summary }}，已于{{ until }}恢复（{{ since }}起）。",
        description="A Prometheus alert resolved: to whoever its firing told, once",
    ),
)

# Satisfaction surveys by SMS link (survey_policy.py): the link is the platform's own page,
# its token put in when the SMS is handed to the gateway (survey_links.py).
DEFAULT_TEMPLATES += (
    TemplateSpec(
        "patient_survey_invitation",
        "patient",
        "【{{ hospital }}】感谢您来院就诊。请花1分钟评价本次就医体验：{{ survey_url }} "
        "（7天内有效）" + _OPT_OUT_HINT,
        description="Satisfaction survey by link after a visit or a discharge",
    ),
    TemplateSpec(
        "patient_survey_reminder",
        "patient",
        "【{{ hospital }}】您的就医满意度评价还未填写，如方便请点击：{{ survey_url }} "
        + _OPT_OUT_HINT,
        description="The one reminder of an unanswered survey (same link)",
    ),
    TemplateSpec(
        "complaint_survey_invitation",
        "patient",
        "【{{ hospital }}】您反映的问题已处理完毕。请告诉我们您对处理结果是否满意：{{ survey_url }} "
        + _OPT_OUT_HINT,
        description="Satisfaction check by link after a complaint was closed",
        reveals_complaint=True,
    ),
)

DEFAULTS_BY_NAME: dict[str, TemplateSpec] = {t.name: t for t in DEFAULT_TEMPLATES}
# The digest lists the case notes it gathers, so it counts as revealing too.
COMPLAINT_TEMPLATES = frozenset(t.name for t in DEFAULT_TEMPLATES if t.reveals_complaint)

# Sample values used to check an edited template before it is saved.
SAMPLE_CONTEXT: dict[str, Any] = {
    "hospital": "市第一人民医院",
    "hotline": "0571-12345678",
    "appointment_time": "11月24日 09:30",
    "department": "心内科",
    "doctor": "李明",
    "survey_url": "https://survey.example/s",
    "case_number": "TS-20261123-0007",
    "response_by": "11月24日 09:30",
    "task_id": "T-1",
    "kind": "出院回访",
    "due": "11月24日 17:00",
    "category": "服务态度",
    "priority": "普通",
    "limit": "首次答复",
    "count": 2,
    "items": ["您有新的回访任务T-1（出院回访），请于11月24日 17:00前完成。"],
    "more": 1,
    "queue": "门诊挂号3号窗口",
    "alert": "ServiceDown",
    "severity": "critical",
    "summary": "通知服务无响应",
    "length": 9,
    "since": "11月24日 08:40",
    "until": "11月24日 09:10",
    "link": "https://console.hospital.example/calls/T-1",
}
SAMPLE_CONTEXT.update(
    {
        "enquiry_number": "ZX-20261123-000007",
        "feedback_number": "FKB-20261123-000007",
        "from_staff": "S-AGENT-01",
    }
)


# The names any template's text may use (`{{ name }}`): those the sample values give.
PLACEHOLDERS: tuple[str, ...] = tuple(sorted(SAMPLE_CONTEXT))

# What each template's sender fills: the context its plan gives it (policy.py, enquiry_policy.py,
# survey_policy.py; the digest's staff_policy.digest_context), checked against those plans by
# tests/notifications/test_template_placeholders.py. An edit may use only these (`check`): a
# name another template is given renders, for this one, as an error at sending time.
_COMMON = frozenset({"hospital", "hotline", "survey_url"})  # PlanningRules.common
_TASK = _COMMON | {"task_id", "kind", "due", "link"}  # policy._task_context
# A patient's case message is not given `link`: it is the staff console's page of the case.
_PATIENT_CASE = _COMMON | {"case_number", "category", "priority", "response_by"}
_CASE = _PATIENT_CASE | {"link"}  # policy._case_context
_ALERT = _COMMON | {"alert", "severity", "summary", "since", "until"}
_ENQUIRY = _COMMON | {"enquiry_number", "limit", "due", "link"}  # enquiry_policy._enquiry_context
GIVEN: dict[str, frozenset[str]] = {
    "appointment_reminder": _COMMON | {"appointment_time", "department", "doctor"},
    "discharge_care_notice": _COMMON | {"department"},
    "discharge_safety_notice": _COMMON | {"department"},
    "followup_survey_invitation": _COMMON,
    "complaint_acknowledgement": _PATIENT_CASE,
    "complaint_outcome": _PATIENT_CASE,
    "staff_task_assigned": _TASK,
    "staff_task_overdue": _TASK,
    "staff_case_assigned": _CASE,
    "staff_case_time_limit_warning": _CASE | {"limit", "due"},
    "staff_case_time_limit_breach": _CASE | {"limit", "due"},
    "staff_digest": frozenset({"count", "items", "more"}),
    "staff_enquiry_time_limit_warning": _ENQUIRY,
    "staff_enquiry_escalation": _ENQUIRY,
    "staff_enquiry_handed_over": _ENQUIRY | {"from_staff"},
    "staff_praise_received": _COMMON | {"feedback_number", "category"},
    "staff_queue_over_limit": _COMMON | {"queue", "length", "limit", "since"},
    "staff_case_escalated": _CASE | {"due"},
    "staff_monitoring_alert": _ALERT,
    "staff_monitoring_alert_resolved": _ALERT,
    "patient_survey_invitation": _COMMON,
    "patient_survey_reminder": _COMMON,
    "complaint_survey_invitation": _COMMON,
}


def placeholders_of(name: str) -> tuple[str, ...]:
    """The names template `name` is given, sorted (all of them for one this service does not
    send, so none of its names is refused by mistake)."""
    given = GIVEN.get(name)
    return PLACEHOLDERS if given is None else tuple(sorted(given))


class TemplateInvalid(ValueError):
    pass


def urgency_refusal(
    *, audience: str, urgent_now: bool, urgent_wanted: bool | None, by_admin: bool
) -> tuple[int, str] | None:
    """Why an edit may not set a template's `urgent` flag (HTTP status, reason), or None.

    An urgent template's messages skip quiet hours and the daily cap. A patient must never be
    texted at night or beyond the cap (DOMAIN: sensible hours), so no patient template can be
    urgent, whoever asks; which staff messages may wake someone up is operations' call (admin),
    not a supervisor's."""
    if urgent_wanted is None or urgent_wanted == urgent_now:
        return None
    if urgent_wanted and audience == "patient":
        return 422, "urgent: a patient template cannot be urgent (it would skip quiet hours)"
    if not by_admin:
        return 403, "urgent: only an admin may change whether a template is urgent"
    return None


@lru_cache(maxsize=512)
def _compiled(body: str) -> Template:
    """The compiled template of `body`. Keyed by the text itself, so an edited template is a
    new key (compiled afresh) and the cache never serves a stale one."""
    _refuse_unbounded_loops(body)
    template = _ENV.from_string(body)
    # Jinja keeps a template's globals as a ChainMap over the environment's and copies it,
    # in Python, into every render's context, twice; the environment's globals are set once
    # at import (above), so a plain dict of them gives every render the same names at a
    # fraction of the cost (a notifications drain renders 1.35 messages an event).
    template.globals = dict(template.globals)
    return template


MAX_LOOPS = 2  # for-loops in one template (the digest has one)


def _refuse_unbounded_loops(body: str) -> None:
    """Loops over literals escape the range() count: three nested over the body's own text
    are 10^8 steps or more. A template may have MAX_LOOPS for-loops, none recursive, and no
    macros (which a loop could call over and over)."""
    tree = _ENV.parse(body)
    loops = list(tree.find_all(nodes.For))
    if len(loops) > MAX_LOOPS or any(loop.recursive for loop in loops):
        raise TemplateInvalid(f"a template may have at most {MAX_LOOPS} for-loops, not recursive")
    if any(True for _ in tree.find_all((nodes.Macro, nodes.CallBlock))):
        raise TemplateInvalid("a template may not define macros")


def render(body: str, context: Mapping[str, Any]) -> str:
    """`body` rendered with `context`, within the bounds above; TemplateInvalid for any
    failure of the template (any exception: it is code) and for text PostgreSQL cannot store."""
    steps = _steps_left.set(MAX_LOOP_STEPS)
    try:
        text = _bounded_output(_compiled(body), context)
    except TemplateInvalid:
        raise
    except Exception as exc:
        raise TemplateInvalid(f"{type(exc).__name__}: {str(exc)[:200]}") from None
    finally:
        _steps_left.reset(steps)
    if not storable_text(text):
        raise TemplateInvalid("the template renders NUL or unpaired surrogate characters")
    return text


def _bounded_output(template: Template, context: Mapping[str, Any]) -> str:
    """The text, a part at a time, refused past MAX_RENDERED_CHARS. The template's render
    function is driven directly: `generate` adds a second generator around it and a second
    copy of the context, and re-raises what fails with its traceback rewritten, which
    `render` replaces anyway (4.3 against 6.0 us a message of a bench drain)."""
    parts: list[str] = []
    size = 0
    for part in template.root_render_func(template.new_context(dict(**context))):
        size += len(part)
        if size > MAX_RENDERED_CHARS:
            raise TemplateInvalid(f"the template renders past {MAX_RENDERED_CHARS} characters")
        parts.append(part)
    return "".join(parts).strip()


class NotGiven(TemplateInvalid):
    """The text uses a placeholder its template's sender never fills (another template's)."""

    def __init__(self, name: str, placeholder: str) -> None:
        given = ", ".join(placeholders_of(name))
        super().__init__(
            f"placeholder not given to this template: '{placeholder}' (it is given: {given})"
        )
        self.placeholder = placeholder


def check(body: str, name: str | None = None) -> str:
    """Render `body` with sample values, those template `name` is given when named; raise
    TemplateInvalid when it cannot be used (NotGiven for a name its sender does not fill)."""
    given = placeholders_of(name) if name else PLACEHOLDERS
    try:
        used = meta.find_undeclared_variables(_ENV.parse(body))
    except TemplateSyntaxError:
        used = set()  # `render` below says what is wrong
    unfilled = sorted(used & set(PLACEHOLDERS) - set(given))
    if unfilled:
        raise NotGiven(name or "", unfilled[0])
    text = render(body, {k: v for k, v in SAMPLE_CONTEXT.items() if k in given})
    if not text:
        raise TemplateInvalid("the template renders to an empty message")
    return text
