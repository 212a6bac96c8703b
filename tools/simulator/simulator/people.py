"""Fake people who look Chinese: names from common surnames and given-name characters, and
mobile numbers on real Chinese operator prefixes (so `phonenumbers` accepts them), drawn from
the caller's seeded random generator. No real person's data is used."""

from __future__ import annotations

import random
from dataclasses import dataclass

# The most common surnames, roughly by frequency (王李张刘陈 cover about a third of China).
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
SURNAME_WEIGHTS = tuple(max(1.0, 30.0 - i) for i in range(len(SURNAMES)))
GIVEN_CHARS = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国志宇浩然子涵"
    "梓萱一诺欣怡思远嘉怡雨轩俊杰文博晨阳佳琪婷婷海燕振华立新春梅秋菊冬梅建华淑珍桂芝玉兰"
)
# Mobile prefixes of China Mobile, Unicom and Telecom.
MOBILE_PREFIXES = (
    "134 135 136 137 138 139 147 150 151 152 157 158 159 178 182 183 184 187 188 198 "
    "130 131 132 155 156 166 175 176 185 186 133 153 173 177 180 181 189 191 199"
).split()


@dataclass(frozen=True, slots=True)
class Person:
    patient_id: str
    name: str
    phone: str
    sms_opt_out: bool


def fake_name(rng: random.Random) -> str:
    surname = rng.choices(SURNAMES, weights=SURNAME_WEIGHTS)[0]
    given = "".join(rng.choice(GIVEN_CHARS) for _ in range(rng.choice((1, 2, 2))))
    return surname + given


def fake_mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
