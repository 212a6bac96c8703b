"""The console's menu: which screens a role sees, as data. A new screen is one new entry, or
one new entry of SETTINGS: the data a hospital tunes (SMS templates, the working-day calendar,
the survey questionnaires, the complaint category rules) share one menu entry, 设置, whose page
lists those the person's roles may open (the English top bar of operations wrapped at ten
entries; each of those screens has its own entry there no more)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    key: str  # message key of its label
    path: str
    roles: frozenset[str]  # empty: everyone signed in
    also: tuple[str, ...] = ()  # the paths of the screens it leads to, marked as its own
    hint: str = ""  # message key of a line saying what the screen is for (the settings page)


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
    NavItem(
        "nav.settings",
        "/settings",
        frozenset({"supervisor", "admin"}),
        also=("/templates", "/calendar", "/questionnaires", "/category-rules", "/departments"),
    ),
    NavItem("nav.inbox", "/inbox", frozenset()),
]

SETTINGS: list[NavItem] = [
    # Staff may read the SMS templates (the page shows them), those who edit have the entry.
    NavItem(
        "nav.templates", "/templates", frozenset({"supervisor", "admin"}), hint="settings.templates"
    ),
    # The complaints service lets only operations read the calendar.
    NavItem("nav.calendar", "/calendar", frozenset({"admin"}), hint="settings.calendar"),
    # Staff may read the questionnaires, operations save a new version.
    NavItem(
        "nav.questionnaires",
        "/questionnaires",
        frozenset({"supervisor", "admin"}),
        hint="settings.questionnaires",
    ),
    # Staff may read the rules, supervisors and operations change them (complaints' RuleEditor).
    NavItem(
        "nav.category_rules",
        "/category-rules",
        frozenset({"supervisor", "admin"}),
        hint="settings.category_rules",
    ),
    # The department names every page shows; follow-up lets only operations save them.
    NavItem("nav.departments", "/departments", frozenset({"admin"}), hint="settings.departments"),
]


def navigation_for(roles: list[str], items: list[NavItem] = NAVIGATION) -> list[NavItem]:
    if not roles:
        return []
    return [item for item in items if not item.roles or item.roles & set(roles)]


def settings_for(roles: list[str]) -> list[NavItem]:
    return navigation_for(roles, SETTINGS)
