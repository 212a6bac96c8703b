"""The keyword rules a new installation starts with (seeded once into `category_rules`; the
hospital edits them through the API afterwards). Lower `position` is tried first."""

from __future__ import annotations

from complaints.classifier import CategoryRule
from complaints.domain import Category

_C = Category

# (category, position, serious, keywords)
_DEFAULTS: tuple[tuple[Category, int, bool, tuple[str, ...]], ...] = (
    (
        _C.MEDICAL_QUALITY,
        10,
        True,
        (
            "医疗事故",
            "医疗差错",
            "误诊",
            "漏诊",
            "手术失误",
            "用错药",
            "致残",
            "死亡",
            "malpractice",
            "misdiagnos",
            "medical error",
            "wrong medication",
            "died",
        ),
    ),
    (
        _C.IMAGING_DISPUTE,
        20,
        False,
        (
            "影像",
            "片子",
            "核磁",
            "磁共振",
            "X光",
            "B超",
            "彩超",
            "放射科",
            "CT",
            "MRI",
            "x-ray",
            "ultrasound",
            "radiolog",
            "imaging",
        ),
    ),
    (
        _C.REPORT_ERROR,
        30,
        False,
        (
            "报告错误",
            "报告有误",
            "报告出错",
            "结果错误",
            "结果有误",
            "化验单",
            "检验结果",
            "wrong result",
            "wrong report",
            "report error",
            "lab result",
        ),
    ),
    (
        _C.BILLING,
        40,
        False,
        (
            "收费",
            "多收",
            "乱收",
            "退费",
            "费用",
            "账单",
            "发票",
            "医保",
            "overcharg",
            "billing",
            "bill",
            "refund",
            "invoice",
            "fee",
        ),
    ),
    (
        _C.MEDICAL_QUALITY,
        50,
        False,
        (
            "治疗效果",
            "疗效",
            "并发症",
            "感染",
            "治疗不当",
            "treatment",
            "complication",
            "infection",
        ),
    ),
    (
        _C.STAFF_ATTITUDE,
        60,
        False,
        (
            "态度",
            "不耐烦",
            "冷漠",
            "骂",
            "凶",
            "不礼貌",
            "服务差",
            "rude",
            "attitude",
            "impolite",
            "unfriendly",
            "shouted",
        ),
    ),
    (
        _C.WAITING_TIME,
        70,
        False,
        (
            "排队",
            "等待",
            "等了",
            "候诊",
            "久等",
            "太慢",
            "waiting",
            "waited",
            "queue",
            "delay",
        ),
    ),
    (
        _C.ENVIRONMENT,
        80,
        False,
        (
            "环境",
            "卫生",
            "脏",
            "噪音",
            "吵",
            "厕所",
            "停车",
            "dirty",
            "noise",
            "noisy",
            "toilet",
            "parking",
        ),
    ),
)


def default_rules() -> list[CategoryRule]:
    """The seed rules with provisional ids (the database assigns the real ones)."""
    rules: list[CategoryRule] = []
    for category, position, serious, keywords in _DEFAULTS:
        for keyword in keywords:
            rules.append(
                CategoryRule(len(rules) + 1, category, keyword, serious=serious, position=position)
            )
    return rules
