"""Settings of the followup service: shared variables plus `FOLLOWUP_*` ones.

The follow-up policy defaults come from DOMAIN.md; a hospital tunes them here (one variable
per rule) and overrides them per department with `FOLLOWUP_DEPARTMENT_POLICIES`, a JSON
object `{"CARD": {"inpatient_due_days": 2}, "PED": {"outpatient_first_visit_rate": 1.0}}`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from hospital_shared import staff_ids
from hospital_shared.settings import service_settings_class

_Base = service_settings_class("followup", 8002)

# Staff seeded at start on a development or test stack (the development tokens' staff and a few
# more per department), so `make up` has someone to assign calls to. Production (any ENV but
# development, dev or test) manages the roster through the API only.
DEFAULT_SEED_STAFF: list[dict[str, Any]] = [
    {"staff_id": "S-AGENT-01", "name": "客服 王芳", "department_code": "CS", "role": "agent",
     "capacity": 40, "phone": "13800000001"},
    {"staff_id": "S-AGENT-02", "name": "客服 刘洋", "department_code": "CS", "role": "agent",
     "capacity": 40, "phone": "13800000002"},
    {"staff_id": "S-SUP-01", "name": "客服主管 张伟", "department_code": "CS",
     "role": "supervisor", "capacity": 20, "phone": "13800000003"},
    {"staff_id": "S-DOC-01", "name": "医生 李明", "department_code": "CARD", "role": "doctor",
     "capacity": 30, "phone": "13800000004"},
    {"staff_id": "S-DOC-02", "name": "医生 赵敏", "department_code": "CARD", "role": "doctor",
     "capacity": 30, "phone": "13800000005"},
    {"staff_id": "S-SUP-02", "name": "护士长 孙丽", "department_code": "CARD",
     "role": "supervisor", "capacity": 20, "phone": "13800000006"},
    {"staff_id": "S-DOC-03", "name": "医生 周杰", "department_code": "ORTH", "role": "doctor",
     "capacity": 30, "phone": "13800000007"},
    {"staff_id": "S-DOC-04", "name": "医生 吴倩", "department_code": "PED", "role": "doctor",
     "capacity": 30, "phone": "13800000008"},
]  # fmt: skip


# The department directory seeded at start on a development or test stack: the codes the
# development tokens, seed staff, simulator and test data use, so the console shows names on
# `make up`. Production starts empty; operations enter the hospital's own (console, 设置 → 科室).
DEFAULT_SEED_DEPARTMENTS: list[dict[str, Any]] = [
    {"code": "CS", "name_zh": "客户服务中心", "name_en": "Patient Services"},
    {"code": "ADM", "name_zh": "院长办公室", "name_en": "Hospital Administration"},
    {"code": "OPS", "name_zh": "运营管理部", "name_en": "Operations"},
    {"code": "OPD", "name_zh": "门诊部", "name_en": "Outpatient Department"},
    {"code": "REG", "name_zh": "挂号处", "name_en": "Registration"},
    {"code": "RAD", "name_zh": "放射科", "name_en": "Radiology"},
    {"code": "CARD", "name_zh": "心内科", "name_en": "Cardiology"},
    {"code": "RESP", "name_zh": "呼吸内科", "name_en": "Respiratory Medicine"},
    {"code": "GAST", "name_zh": "消化内科", "name_en": "Gastroenterology"},
    {"code": "ENDO", "name_zh": "内分泌科", "name_en": "Endocrinology"},
    {"code": "NEUR", "name_zh": "神经内科", "name_en": "Neurology"},
    {"code": "GSURG", "name_zh": "普外科", "name_en": "General Surgery"},
    {"code": "ORTH", "name_zh": "骨科", "name_en": "Orthopaedics"},
    {"code": "URO", "name_zh": "泌尿外科", "name_en": "Urology"},
    {"code": "OBGYN", "name_zh": "妇产科", "name_en": "Obstetrics and Gynaecology"},
    {"code": "PED", "name_zh": "儿科", "name_en": "Paediatrics"},
    {"code": "ONC", "name_zh": "肿瘤科", "name_en": "Oncology"},
    {"code": "OPH", "name_zh": "眼科", "name_en": "Ophthalmology"},
    {"code": "ENT", "name_zh": "耳鼻喉科", "name_en": "Ear, Nose and Throat"},
    {"code": "DERM", "name_zh": "皮肤科", "name_en": "Dermatology"},
    {"code": "STOM", "name_zh": "口腔科", "name_en": "Stomatology"},
    {"code": "TCM", "name_zh": "中医科", "name_en": "Traditional Chinese Medicine"},
    {"code": "EMER", "name_zh": "急诊科", "name_en": "Emergency"},
    {"code": "ICU", "name_zh": "重症医学科", "name_en": "Intensive Care"},
]


class Settings(_Base):  # type: ignore[misc,valid-type]
    # --- policy defaults (every department), see followup.policy.DepartmentPolicy --------
    inpatient_due_days: float = 3.0
    outpatient_first_visit_rate: float = 0.60
    outpatient_return_visit_rate: float = 0.20
    # Outpatient calls are sampled at rate / (1 - this), so the target share is still reached
    # when this share of the calls ends unreached (followup.policy.outpatient_rate).
    expected_unreached_share: float = 0.15
    outpatient_due_days: float = 3.0
    call_delay_hours: float = 0.0
    working_hours_start: str = "08:30"
    working_hours_end: str = "17:30"
    use_official_calendar: bool = True
    max_call_attempts: int = 3
    retry_spacing_hours: list[float] = Field(default_factory=lambda: [4.0, 24.0])
    spot_check_rate: float = 0.10
    second_call_due_days: float = 1.0
    spot_check_due_days: float = 3.0
    # A next call planned by an outcome (制定下次回访计划) is due this long after its day.
    next_call_due_days: float = 3.0
    # A requested call-back (`callback_at`) at most this far ahead (422 beyond it).
    callback_max_days: float = 90.0
    sms_opt_out_means_no_calls: bool = True
    deceased_handling: str = "none"  # none | bereavement_call
    transferred_handling: str = "transfer_check"  # transfer_check | none
    fallback_department: str = "CS"
    department_policies: dict[str, dict[str, Any]] = Field(default_factory=dict)

    # --- the consumer ------------------------------------------------------------------
    # A backlog's batch is handled in two transactions at once (by partition): while one
    # waits on PostgreSQL, the other plans and encodes. Same-run drains of 20,000 events
    # (docs/bench.md, session 16).
    consumer_concurrency: int = Field(
        2, ge=1, le=8, description="transactions a batch is split into (by partition), run at once"
    )
    # Each part takes a pooled connection: the discharges' and registrations' consumer (two),
    # the calendar's and the survey answers', the outbox relay, the due scan and assignment,
    # and the routes share the pool.
    db_pool_max: int = 8

    # --- staff -----------------------------------------------------------------------
    # None: DEFAULT_SEED_STAFF on a development or test stack, nobody in production.
    seed_staff: list[dict[str, Any]] | None = Field(
        None,
        description="the members put on the roster at start (a JSON list); each staff_id is "
        "held to the staff id syntax as a save holds a new one (full-width taken as ASCII): "
        "one that does not fit stops the start, naming it",
    )
    # None: DEFAULT_SEED_DEPARTMENTS on a development or test stack, none in production;
    # `[{"code", "name_zh", "name_en"}]` entries not in the directory yet are added at start.
    seed_departments: list[dict[str, Any]] | None = None

    # --- timers ----------------------------------------------------------------------
    scan_interval_s: float = 30.0
    assign_interval_s: float = 1.0
    job_batch_size: int = 500
    # The assignment and the due scan pass nothing this long after the instance starts (a
    # pass finding work in that time does none). An instance added to a busy group otherwise
    # catches up at once on everything the others held back; the bench's scaling steps hold
    # both with it, so that an instance's start-up pass is not inside the drain it measures.
    jobs_start_delay_s: float = Field(
        0.0, ge=0, description="the assignment and due scan do nothing this long after start"
    )
    # Follow-up registers are kept 2 years (DOMAIN.md): 731 days, as two years that hold a
    # 29 February are 731 days long (730 would delete a record a day early).
    retention_days: int = 2 * 365 + 1
    retention_interval_s: float = 6 * 3600.0
    # How often each instance rereads the working-day calendar years saved from the
    # complaints service's `calendar.year_saved` events (the instance that kept one has it).
    calendar_reload_interval_s: float = 60.0

    @field_validator("seed_staff")
    @classmethod
    def _seed_ids_are_staff_ids(
        cls, value: list[dict[str, Any]] | None
    ) -> list[dict[str, Any]] | None:
        setting = f"{cls.model_config['env_prefix']}SEED_STAFF"
        if value is None:
            return None
        return [{**m, "staff_id": staff_ids.seeded(m.get("staff_id"), setting)} for m in value]

    def staff_to_seed(self) -> list[dict[str, Any]]:
        if self.seed_staff is not None:
            return self.seed_staff
        return DEFAULT_SEED_STAFF if self.development_stack else []

    def departments_to_seed(self) -> list[dict[str, Any]]:
        if self.seed_departments is not None:
            return self.seed_departments
        return DEFAULT_SEED_DEPARTMENTS if self.development_stack else []
