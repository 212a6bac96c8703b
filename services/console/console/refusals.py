"""The services' refusals in the person's language: Chinese first, the service's own English
with the language switch.

The services answer in English (RFC 9457 problem+json, hospital_shared.problems): a `detail`
sentence, each bad field's `message` and pydantic `type`, a refused transition's members.
`Reason` keeps both texts; pages show `said(reason)` in the page's language. The Chinese comes
from `refusals.json` (data, so wording changes without code): a detail by its pattern, a field
error by its type, a refused step from the problem's members, else a sentence for the HTTP
status with the English beside it (nothing a service says is hidden)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from console.wording import translate

HERE = Path(__file__).resolve().parent
TRANSITION_REFUSED = "urn:hospital:problem:transition-refused"
# statuses and steps named in a detail are shown as the catalogue names them
_STATUS_GROUPS = ("status", "current")
_STEP_GROUPS = ("to", "requested", "missing")


class Reason(str):
    """A refusal as the service said it (the string itself, English) and in Chinese (`zh`)."""

    zh: str

    def __new__(cls, en: str, zh: str) -> Reason:
        reason = super().__new__(cls, en)
        reason.zh = zh
        return reason

    def in_language(self, lang: str) -> str:
        return self.zh if lang == "zh" else str(self)


@cache
def _data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HERE / "refusals.json").read_text("utf-8"))
    data["compiled"] = [(re.compile(d["pattern"]), d["zh"], d.get("en")) for d in data["details"]]
    return data


def _status_name(value: str, kind: str = "status", lang: str = "zh") -> str:
    name = translate(f"{kind}.{value}", lang)
    return name if name != f"{kind}.{value}" else value


def _group_text(group: str, value: str, lang: str = "zh") -> str:
    if group in _STATUS_GROUPS:
        return _status_name(value, lang=lang)
    return _status_name(value, "step", lang) if group in _STEP_GROUPS else value


def _known_detail(text: str) -> Reason | None:
    """The detail's Chinese, and its English when the entry has its own (`en`: what the
    service says fits an API client, not a person at the console), else the service's."""
    for pattern, zh, en in _data()["compiled"]:
        match = pattern.fullmatch(text.strip())
        if match:
            found = match.groupdict().items()
            zh_text = zh.format(**{k: _group_text(k, v) for k, v in found})
            en_text = en.format(**{k: _group_text(k, v, "en") for k, v in found}) if en else text
            return Reason(en_text, zh_text)
    return None


def detail_reason(status: int, text: str) -> Reason:
    """A refusal's sentence: its Chinese when known, else the status's sentence with the
    service's English beside it."""
    known = _known_detail(text) if text else None
    if known is not None:
        return known
    general = _data()["statuses"].get(str(status), _data()["other"])
    return Reason(text, f"{general}（{text}）" if text else general)


def field_reason(error_type: str, text: str) -> Reason:
    """One field's error: by its pydantic type, else its sentence (in English too when the
    catalogue words it), else 'invalid'."""
    known = _known_detail(text)
    by_type = _data()["field_types"].get(error_type)
    if known is not None and not by_type:
        return known
    return Reason(text, by_type or f"{_data()['statuses']['422']}（{text}）")


def transition_reason(body: dict[str, Any], text: str) -> Reason:
    """A refused step: the case's status, the step asked for, what must come first, and the
    steps allowed (the problem's members)."""
    data = _data()
    zh = data["transition"].format(
        current=_status_name(str(body.get("current_status", ""))),
        requested=_status_name(str(body.get("requested", "")), "step"),
    )
    if body.get("missing_step"):
        missing = _status_name(str(body["missing_step"]), "step")
        zh += data["transition_first"].format(missing=missing)
    allowed = [_status_name(str(s), "step") for s in body.get("allowed_next") or []]
    if allowed:
        zh += data["transition_allowed"].format(allowed=data["list_separator"].join(allowed))
    else:
        zh += data["transition_final"]
    return Reason(text, zh)


def said(value: Any, lang: str) -> str:
    """What a page shows for a refusal or a field's error: a `Reason` in the page's language;
    the console's own codes (`required`, `invalid`) from the catalogue; other text as it is."""
    if isinstance(value, Reason):
        return value.in_language(lang)
    if value in ("required", "invalid"):
        return translate(f"form.error.{value}", lang)
    return "" if value is None else str(value)
