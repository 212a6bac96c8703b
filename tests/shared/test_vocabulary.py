"""The one vocabulary (issue 18): every status, category, satisfaction answer, priority, time
limit, channel and kind is spelt once, in `hospital_shared.vocabulary`; the previous release's
spellings and event type names are still read for one release."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

import pytest

from hospital_shared import vocabulary as v
from hospital_shared.codec import decode, encode
from hospital_shared.events import EVENT_TYPES, make_event
from hospital_shared.service_events.complaints import ComplaintSatisfactionRecorded
from hospital_shared.service_events.followup import FollowUpTaskOverdue
from hospital_shared.service_events.surveys import SurveyAnswer
from hospital_shared.vocabulary import EventName, Satisfaction

ROOT = Path(__file__).resolve().parents[2]
VOCABULARY = ROOT / "shared" / "hospital_shared" / "vocabulary.py"
SOURCES = ("services", "shared", "tools", "bench")

# The sets that must be spelt only in the vocabulary, each by its values; the satisfaction
# scale's previous spelling (满意 ...) counts as a copy of it too.
WATCHED: dict[str, frozenset[str]] = {
    enum.__name__: frozenset(enum)
    for enum in (
        v.CaseStatus, v.TaskStatus, v.EnquiryStatus, v.SmsStatus, v.ComplaintCategory,
        v.Satisfaction, v.Priority, v.CaseLimit, v.EnquiryLimit, v.Aspect, v.ContactKind,
        v.TaskKind, v.FeedbackKind, v.FeedbackChannel, v.ComplaintChannel, v.EnquiryChannel,
        v.SuggestionOutcome, v.Validity, v.LimitLevel, v.LimitOutcome, v.SurveyChannel, v.LimitState,
    )
} | {"Satisfaction (previous spelling)": frozenset(v.LEGACY_SATISFACTION)}  # fmt: skip


def _source_files() -> Iterator[Path]:
    """The Python modules and the Jinja templates (the console's pages)."""
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*")):
            skipped = path == VOCABULARY or {".venv", "node_modules"} & set(path.parts)
            if path.suffix in (".py", ".html") and not skipped:
                yield path


def _strings(nodes: list[ast.expr | None]) -> frozenset[str]:
    return frozenset(
        n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )


def _literal_sets(tree: ast.AST) -> Iterator[tuple[int, frozenset[str]]]:
    """Every tuple, list, set, dict's keys, `Literal[...]` and enum class body of strings."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            yield node.lineno, _strings(list(node.elts))
        elif isinstance(node, ast.Dict):
            yield node.lineno, _strings(node.keys)
        elif isinstance(node, ast.ClassDef):
            values = [s.value for s in node.body if isinstance(s, ast.Assign)]
            yield node.lineno, _strings(list(values))
        elif isinstance(node, ast.Subscript) and getattr(node.value, "id", "") == "Literal":
            inner = node.slice
            yield (
                node.lineno,
                _strings(list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]),
            )


# A tuple or list of quoted strings in a Jinja template: `('closed', 'withdrawn')`.
_TEMPLATE_SET = re.compile(r"[(\[]\s*((?:'[^']*'\s*,\s*)+'[^']*')\s*[)\]]")


def _template_sets(text: str) -> Iterator[tuple[int, frozenset[str]]]:
    for match in _TEMPLATE_SET.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        yield line, frozenset(re.findall(r"'([^']*)'", match.group(1)))


def _sets_in(path: Path) -> Iterator[tuple[int, frozenset[str]]]:
    text = path.read_text("utf-8")
    if path.suffix == ".html":
        return _template_sets(text)
    return _literal_sets(ast.parse(text, filename=str(path)))


def copies_of_the_vocabulary() -> list[str]:
    found = []
    for path in _source_files():
        for line, strings in _sets_in(path):
            for name, values in WATCHED.items():
                if len(strings) >= 2 and strings <= values:
                    found.append(f"{path.relative_to(ROOT)}:{line}: {name} {sorted(strings)}")
    return found


# One value spelt as a bare literal where code decides by it (`status == "closed"`, `in
# ("closed",)`, `{"status": "withdrawn"}`) in a production module: the values of these sets
# are read through their enums. (A dict's keys and a tuple of column names are names, not
# values: they count only as sets, above.)
SINGLE: dict[str, list[str]] = {}
for _enum in (
    v.CaseStatus, v.EnquiryStatus, v.TaskStatus, v.Priority, v.ComplaintCategory, v.Satisfaction,
    v.CaseLimit, v.EnquiryLimit, v.LimitLevel, v.LimitOutcome, v.LimitState,
):  # fmt: skip
    for _member in _enum:
        SINGLE.setdefault(_member.value, []).append(_enum.__name__)
for _old in v.LEGACY_SATISFACTION:
    SINGLE.setdefault(_old, []).append("Satisfaction (previous spelling)")
# Where such a literal is something else, by file and value, and why.
NOT_VOCABULARY = {
    ("services/complaints/complaints/access.py", "normal"): "a case's confidentiality level",
    ("services/complaints/complaints/repository.py", "open"): "the name of the `open` filter",
    ("services/metrics/metrics/alerting.py", "warning"): "a Prometheus alert's severity label",
    ("services/console/console/supervisor.py", "open"): "the queue link's `open` filter value",
    ("services/metrics/metrics/procedure.py", "unfounded"): "a procedure counter's kind label",
    ("services/metrics/metrics/procedure.py", "closed"): "a complaint.case_* event's step",
    ("services/notifications/notifications/plan_writer.py", "withdrawn"): "a message's status",
}
# Documentation: a model's example is the wire text a client reads, not code deciding by it.
_EXAMPLES = {"example", "examples", "json_schema_extra", "openapi_examples"}


def _production_modules() -> Iterator[Path]:
    """Each service package's modules and the shared library's, the vocabulary aside."""
    paths = [*ROOT.glob("services/*/*/**/*.py"), *ROOT.glob("shared/hospital_shared/**/*.py")]
    yield from sorted(p for p in paths if p != VOCABULARY and ".venv" not in p.parts)


def _code(node: ast.AST) -> Iterator[ast.AST]:
    """Every node of `node` but the examples a model documents (see _EXAMPLES)."""
    if isinstance(node, ast.Call) and "example" in getattr(
        node.func, "id", getattr(node.func, "attr", "")
    ):
        return
    if isinstance(node, ast.keyword) and node.arg in _EXAMPLES:
        return
    targets = getattr(node, "targets", [getattr(node, "target", None)])
    if isinstance(node, ast.Assign | ast.AnnAssign) and any(
        "EXAMPLE" in getattr(t, "id", "") for t in targets
    ):
        return  # `CASE_EXAMPLE = {...}`, a model's example kept by name
    yield node
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            documented = isinstance(key, ast.Constant) and key.value in _EXAMPLES
            yield from [] if key is None else _code(key)
            yield from [] if documented else _code(value)
        return
    for child in ast.iter_child_nodes(node):
        yield from _code(child)


def _single_values(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Vocabulary values compared with (alone or in a tuple, list or set) or held as a dict's
    value."""
    for node in _code(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            found = [e for s in sides for e in getattr(s, "elts", [s])]
        elif isinstance(node, ast.Dict):
            found = list(node.values)
        else:
            continue
        for literal in found:
            if isinstance(literal, ast.Constant) and literal.value in SINGLE:
                yield literal.lineno, literal.value


def literals_of_the_vocabulary(files: Iterator[Path] | None = None) -> list[str]:
    found = []
    for path in files or _production_modules():
        name = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        for line, value in _single_values(tree):
            if (name, value) not in NOT_VOCABULARY:
                found.append(f"{name}:{line}: {value!r} ({', '.join(SINGLE[value])})")
    return found


def test_no_vocabulary_value_is_a_bare_literal_in_production_code() -> None:
    assert literals_of_the_vocabulary() == []


def test_the_literal_walk_finds_a_planted_value_and_passes_the_enums(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(
        "from hospital_shared.vocabulary import CaseStatus\n"
        "if case['status'] == 'closed': pass\n"  # a comparison
        "if level in ('breach',): pass\n"  # alone in a tuple compared with
        "update = {'status': 'withdrawn', 'answer': None}\n"  # a dict's value; a key is a name
        "if case['status'] == CaseStatus.CLOSED: pass\n"  # the enum: fine
        "COLUMNS = ('answer', 'urgent')\n"  # names of columns: fine
        "model_config = {'json_schema_extra': {'example': {'status': 'closed'}}}\n"  # documented
        "CASE_EXAMPLE = {'status': 'closed'}\n"  # an example kept by name: documented
    )
    tree = ast.parse(planted.read_text())
    assert list(_single_values(tree)) == [(2, "closed"), (3, "breach"), (4, "withdrawn")]


def test_every_allowed_literal_is_still_there() -> None:
    """An allow-list entry whose literal went away is removed, not left to excuse a new one."""
    seen = set()
    for path in _production_modules():
        name = path.relative_to(ROOT).as_posix()
        seen |= {(name, value) for _, value in _single_values(ast.parse(path.read_text("utf-8")))}
    assert set(NOT_VOCABULARY) <= seen


def test_no_status_category_or_satisfaction_set_is_spelt_outside_the_vocabulary() -> None:
    assert sorted(set(copies_of_the_vocabulary())) == []


def test_the_walk_finds_a_copy_where_there_is_one() -> None:
    copied = ast.parse('OPEN = ("planned", "assigned")\nX: Literal["满意", "不满意"]\n')
    sets = {s for _, s in _literal_sets(copied) if len(s) >= 2}
    assert sets == {frozenset({"planned", "assigned"}), frozenset({"满意", "不满意"})}
    assert frozenset({"planned", "assigned"}) <= WATCHED["TaskStatus"]
    assert frozenset({"满意", "不满意"}) <= WATCHED["Satisfaction (previous spelling)"]
    page = "{% if case.status not in ('closed', 'withdrawn') %}\n{% for r in ['a', 'b'] %}"
    assert list(_template_sets(page)) == [
        (1, frozenset({"closed", "withdrawn"})),
        (2, frozenset({"a", "b"})),
    ]


def test_every_enum_spells_its_values_in_lower_case_ascii_snake_case() -> None:
    enums = [e for e in vars(v).values() if isinstance(e, type) and issubclass(e, StrEnum)]
    spelt = {e.__name__: [m.value for m in e] for e in enums if e is not EventName}
    assert len(spelt) >= 20
    for name, values in spelt.items():
        assert all(value.isascii() and value == value.lower() for value in values), name


def test_every_event_type_is_named_once_in_the_one_pattern() -> None:
    assert set(EVENT_TYPES) == {e.value for e in EventName}
    assert all(v.EVENT_TYPE_PATTERN.match(t) for t in EVENT_TYPES), sorted(EVENT_TYPES)
    assert not set(v.RENAMED_EVENT_TYPES) & set(EVENT_TYPES)  # old names are not published


def test_an_event_in_flight_under_its_old_name_is_read_as_the_new_one() -> None:
    data = FollowUpTaskOverdue.model_validate({
        "task_id": "T-1", "kind": "inpatient_discharge", "patient_id": "P1",
        "department_code": "CARD", "due_at": "2026-12-05T08:00:00+08:00",
    })  # fmt: skip
    new = make_event(EventName.TASK_OVERDUE, data, source="urn:t", subject="P1", time=data.due_at)
    doc = json.loads(encode(new))
    doc |= {"type": "followup.task.overdue", "dataschema": "urn:x:followup.task.overdue"}
    read = decode(
        json.dumps(doc).encode(), expected_topic=EVENT_TYPES[EventName.TASK_OVERDUE].topic
    )
    assert (read.type, read.data) == (EventName.TASK_OVERDUE, data)
    assert read.dataschema == new.dataschema


@pytest.mark.parametrize(
    ("old", "now"),
    [("满意", Satisfaction.SATISFIED), ("基本满意", Satisfaction.FAIRLY_SATISFIED),
     (" 不满意", Satisfaction.DISSATISFIED)],
)  # fmt: skip
def test_the_previous_satisfaction_spelling_is_still_taken_and_never_written(
    old: str, now: Satisfaction
) -> None:
    """Follow-up's API and events and the survey answers took 满意 / 基本满意 / 不满意 until
    issue 18: a client or an event of the previous release still works (the API's bodies and every
    event model parse a `Satisfaction`; tests/integration/test_survey_answers_consumed.py does
    it through the follow-up API), and what is written, published or answered is the
    vocabulary's spelling."""
    assert Satisfaction(old) is now and now.label_zh == old.strip()
    answer = SurveyAnswer.model_validate(
        {"question_id": "q", "aspect": "overall", "satisfaction": old}
    )
    assert json.loads(answer.model_dump_json())["satisfaction"] == now.value
    checked = ComplaintSatisfactionRecorded.model_validate({
        "case_number": "TS-1", "cycle": 1, "rating": old, "satisfied": now.positive,
        "channel": "phone", "category": "billing", "reopened": False, "on_time": True,
        "occurred_at": "2026-12-05T08:00:00+08:00",
    })  # fmt: skip
    assert checked.rating is now
    with pytest.raises(ValueError):
        Satisfaction("很满意")  # not a spelling of any release
