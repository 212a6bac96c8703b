"""The message catalogue (`messages.json`, key -> {"zh", "en"}): every string a person reads,
so a hospital can change wording without touching code; a key missing in one language falls
back to the other, then to the key itself (visible, not a crash)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from hospital_shared.vocabulary import SystemNote

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


def label(kind: str, code: object, lang: str) -> str:
    """A service's code (a status, a category, a template's name) as the catalogue's
    `kind.code` words; a code the catalogue does not know (a template a hospital added) as
    itself."""
    key = f"{kind}.{code}"
    return translate(key, lang) if key in catalogue() else str(code or "")


def system_note(text: str, lang: str) -> str:
    """A note the complaints service wrote itself (stored in English) in `lang`; any other
    note, typed by a person, as it is."""
    try:
        note = SystemNote(text)
    except ValueError:
        return text
    return translate(f"note.{note.name.lower()}", lang)
