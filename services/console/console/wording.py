"""The message catalogue (`messages.json`, key -> {"zh", "en"}): every string a person reads,
so a hospital can change wording without touching code; a key missing in one language falls
back to the other, then to the key itself (visible, not a crash)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent


@cache
def catalogue() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads((HERE / "messages.json").read_text("utf-8"))
    return data


def translate(key: str, lang: str) -> str:
    entry = catalogue().get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry.get("zh") or entry.get("en") or key
