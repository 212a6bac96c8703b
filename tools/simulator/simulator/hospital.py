"""What a simulated hospital looks like: its departments with realistic shares of the
outpatient visits and the inpatient discharges, and the rates of everything that happens."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DepartmentProfile:
    code: str
    name: str
    outpatient_share: float  # of the outpatient visits
    inpatient_share: float  # of the discharges (0: no ward)


# A general (三甲) hospital's mix: internal medicine and paediatrics dominate outpatients,
# surgery, cardiology and obstetrics the wards.
DEPARTMENTS: tuple[DepartmentProfile, ...] = (
    DepartmentProfile("CARD", "心内科", 0.08, 0.12),
    DepartmentProfile("RESP", "呼吸内科", 0.08, 0.10),
    DepartmentProfile("GAST", "消化内科", 0.07, 0.08),
    DepartmentProfile("ENDO", "内分泌科", 0.05, 0.04),
    DepartmentProfile("NEUR", "神经内科", 0.05, 0.07),
    DepartmentProfile("GSURG", "普外科", 0.05, 0.12),
    DepartmentProfile("ORTH", "骨科", 0.07, 0.11),
    DepartmentProfile("URO", "泌尿外科", 0.03, 0.05),
    DepartmentProfile("OBGYN", "妇产科", 0.09, 0.13),
    DepartmentProfile("PED", "儿科", 0.12, 0.08),
    DepartmentProfile("ONC", "肿瘤科", 0.03, 0.07),
    DepartmentProfile("OPH", "眼科", 0.05, 0.02),
    DepartmentProfile("ENT", "耳鼻喉科", 0.05, 0.01),
    DepartmentProfile("DERM", "皮肤科", 0.06, 0.0),
    DepartmentProfile("STOM", "口腔科", 0.05, 0.0),
    DepartmentProfile("TCM", "中医科", 0.04, 0.0),
    DepartmentProfile("EMER", "急诊科", 0.03, 0.0),
)

DOCTOR_SURNAMES = "王李张刘陈杨黄赵吴周"


@dataclass(frozen=True, slots=True)
class Rates:
    """Per hospital and simulated day; shares are of the thing they qualify."""

    visits_per_day: int = 2000
    discharges_per_visit: float = 0.06
    complaints_per_visit: float = 0.004
    first_visit_share: float = 0.35
    appointment_share: float = 0.60  # booked ahead (online, app, phone); the rest walk in
    same_day_appointment_share: float = 0.30
    cancellation_share: float = 0.08  # of appointments
    no_show_share: float = 0.07  # of appointments
    discharge_cancellation_share: float = 0.01
    sms_opt_out_share: float = 0.03
    # dispositions of discharges
    transferred_share: float = 0.04
    against_advice_share: float = 0.025
    deceased_share: float = 0.012


APPOINTMENT_CHANNELS = (("online", 0.45), ("app", 0.35), ("phone", 0.20))
WALK_IN_CHANNELS = (("onsite", 0.7), ("kiosk", 0.3))
COMPLAINT_CHANNELS = (("phone", 0.40), ("online", 0.30), ("onsite", 0.22), ("followup", 0.08))
COMPLAINT_TEXTS = (
    ("waiting_time", "挂号后等候两个多小时，排队太久，没有人解释"),
    ("staff_attitude", "护士态度很差，说话不耐烦"),
    ("billing", "收费不明，同一项检查被重复收费，要求退费"),
    ("report_error", "检验报告上的姓名写错了，结果与上次差别很大"),
    ("medical_quality", "手术后伤口感染，怀疑医疗事故，要求调查"),
    ("environment", "病房卫生间很脏，晚上走廊太吵"),
    ("imaging_dispute", "CT影像报告与外院结论不一致，要求放射科复核"),
    (None, "医生开药前没有仔细询问病史，家属很不满意"),
    (None, "The parking is full every morning and the signs are confusing"),
)
