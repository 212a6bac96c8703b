"""The console's menu: which screens a role sees, as data. A new screen is one new entry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    key: str  # message key of its label
    path: str
    roles: frozenset[str]  # empty: everyone signed in


STAFF = frozenset({"agent", "doctor", "supervisor", "admin", "director"})

NAVIGATION: list[NavItem] = [
    NavItem("nav.worklist", "/worklist", frozenset({"agent", "doctor", "supervisor"})),
    NavItem("nav.patients", "/patients", STAFF),
    NavItem(
        "nav.desk", "/cases", frozenset({"agent", "doctor", "supervisor", "director", "admin"})
    ),
    NavItem("nav.enquiries", "/enquiries", frozenset({"agent", "doctor", "supervisor", "admin"})),
    NavItem("nav.feedback", "/feedback", frozenset({"agent", "doctor", "supervisor", "admin"})),
    NavItem("nav.supervisor", "/supervisor", frozenset({"supervisor", "admin"})),
    NavItem("nav.operations", "/operations", frozenset({"admin", "supervisor", "director"})),
    NavItem("nav.staff", "/staff", frozenset({"admin"})),
    # Staff may read the SMS templates (the page shows them), those who edit have the entry.
    NavItem("nav.templates", "/templates", frozenset({"supervisor", "admin"})),
    # The complaints service lets only operations read the calendar.
    NavItem("nav.calendar", "/calendar", frozenset({"admin"})),
    NavItem("nav.inbox", "/inbox", frozenset()),
]


def navigation_for(roles: list[str]) -> list[NavItem]:
    if not roles:
        return []
    return [item for item in NAVIGATION if not item.roles or item.roles & set(roles)]
