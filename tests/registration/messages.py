"""Real-looking HL7 v2.5 messages, as Chinese HIS send them, for unit and integration tests."""

from __future__ import annotations

MLLP_START, MLLP_END = b"\x0b", b"\x1c\x0d"

CHARSETS = {"utf-8": "UNICODE UTF-8", "gb18030": "GB 18030-2000"}


def msh(control_id: str, message_type: str, *, charset: str = "utf-8", sender: str = "HIS") -> str:
    declared = CHARSETS.get(charset, charset)
    return (
        f"MSH|^~\\&|{sender}|第一医院|HOSPITAL-OPS|REGISTRATION|20261123093000+0800||"
        f"{message_type}|{control_id}|P|2.5|||AL|NE|CHN|{declared}"
    )


def pid(
    patient_id: str, *, family: str = "张", given: str = "三", phone: str = "13800138000"
) -> str:
    return f"PID|1||{patient_id}^^^第一医院^MR||{family}^{given}||19800101|M|||||{phone}^PRN^CP"


def pv1(visit_id: str, *, patient_class: str = "O", extra: dict[int, str] | None = None) -> str:
    fields = [""] * 46
    fields[1] = "1"
    fields[2] = patient_class
    fields[3] = "CARD^^^^^^^^心内科"
    fields[4] = "F"
    fields[7] = "D001^李^明"
    fields[19] = visit_id
    for n, value in (extra or {}).items():
        fields[n] = value
    return "PV1|" + "|".join(fields[1:]).rstrip("|")


def adt(
    trigger: str,
    control_id: str,
    *,
    patient_id: str,
    visit_id: str,
    charset: str = "utf-8",
    patient_class: str = "O",
    family: str = "张",
    given: str = "三",
    phone: str = "13800138000",
    pv1_extra: dict[int, str] | None = None,
    segments: tuple[str, ...] = (),
    recorded_at: str = "20261123093000+0800",
) -> bytes:
    lines = [
        msh(control_id, f"ADT^{trigger}^ADT_A01", charset=charset),
        f"EVN|{trigger}|{recorded_at}",
        pid(patient_id, family=family, given=given, phone=phone),
        pv1(visit_id, patient_class=patient_class, extra=pv1_extra),
        *segments,
    ]
    return ("\r".join(lines) + "\r").encode(charset)


def siu(
    trigger: str,
    control_id: str,
    *,
    patient_id: str,
    appointment_id: str,
    charset: str = "utf-8",
    family: str = "王",
    given: str = "小明",
) -> bytes:
    lines = [
        msh(control_id, f"SIU^{trigger}^SIU_S12", charset=charset),
        sch(appointment_id),
        pid(patient_id, family=family, given=given),
        "RGS|1",
        "AIS|1||CARD-OPD^心内科门诊|20261125140000+0800",
        "AIL|1||CARD^^^^^^^^心内科",
        "AIP|1||D001^李^明",
    ]
    return ("\r".join(lines) + "\r").encode(charset)


def sch(appointment_id: str, *, visit_type: str = "复诊") -> str:
    fields = [""] * 12
    fields[1] = fields[2] = f"{appointment_id}^HIS"
    fields[8] = f"{visit_type}^{visit_type}"
    fields[11] = "^^^20261125140000+0800"
    return "SCH|" + "|".join(fields[1:])


def framed(message: bytes) -> bytes:
    return MLLP_START + message + MLLP_END


def a02(
    control_id: str,
    *,
    patient_id: str,
    admission_id: str,
    department: str = "NEURO^7B^12^^^^^^神经内科",
    prior: str = "CARD^^^^^^^^心内科",
) -> bytes:
    """ADT^A02: the inpatient moved to `department` (PV1-3; PV1-6 the prior location)."""
    extra = {3: department, 6: prior}
    lines = [
        msh(control_id, "ADT^A02^ADT_A02"),
        "EVN|A02|20261123093000+0800||||20261123090000+0800",
        pid(patient_id),
        pv1(admission_id, patient_class="I", extra=extra),
    ]
    return ("\r".join(lines) + "\r").encode()


def a40(control_id: str, *pairs: tuple[str, str], mrg: bool = True) -> bytes:
    """ADT^A40: each (surviving, merged) pair is a PID and its MRG."""
    lines = [msh(control_id, "ADT^A40^ADT_A39"), "EVN|A40|20261123093000+0800"]
    for surviving, merged in pairs:
        lines.append(pid(surviving))
        if mrg:
            lines.append(f"MRG|{merged}^^^第一医院^MR" if merged else "MRG|")
    return ("\r".join(lines) + "\r").encode()
