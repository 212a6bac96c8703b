"""The praise and suggestions screen's pure parts (表扬与建议): the form as the complaints
service's body, who is offered the answer form, the categories and refusals in both languages,
and the menu entry. The screens themselves: tests/e2e/test_console_feedback.py."""

from __future__ import annotations

from console.backend import problem_from
from console.colleagues import _is_whole, named, refusal
from console.feedback import FIELDS, can_answer, feedback_body, misfiled_category
from console.navigation import navigation_for
from console.refusals import said
from console.session import Session
from console.wording import catalogue, translate
from hospital_shared.vocabulary import PRAISE_CATEGORIES, SUGGESTION_CATEGORIES

TZ = "Asia/Shanghai"
# A hospital's own categories, as the complaints service's GET /v1/categories answers them.
OFFERED = {
    "complaint": ("staff_attitude", "other"),
    "praise": ("nursing_care", "ward_cleanliness", "other"),
    "suggestion": ("facilities", "parking", "other"),
}


def typed(**given: str) -> dict[str, str]:
    return dict.fromkeys(FIELDS, "") | given


def session(staff_id: str, role: str) -> Session:
    return Session("s", staff_id, [role], "CS", staff_id, "token")


def test_a_praise_form_is_the_services_body_with_the_time_in_the_hospitals_zone() -> None:
    form = typed(
        kind="praise", channel="phone", category="nursing_care", staff_id="S-NURSE-7",
        patient_name="周雨", patient_phone="13912340000", received_at="2026-12-05T09:30",
        text="护士很耐心", external_id="feedback-form-1",
    )  # fmt: skip
    body, errors = feedback_body(form, TZ)
    assert errors == {}
    assert body == {
        "kind": "praise", "channel": "phone", "category": "nursing_care", "staff_id": "S-NURSE-7",
        "patient": {"name": "周雨", "phone": "13912340000"}, "text": "护士很耐心",
        "received_at": "2026-12-05T09:30:00+08:00", "external_id": "feedback-form-1",
    }  # fmt: skip


def test_an_anonymous_suggestion_sends_no_patient_category_or_staff() -> None:
    body, errors = feedback_body(typed(kind="suggestion", text="多设座椅"), TZ)
    assert errors == {}
    assert body == {"kind": "suggestion", "channel": "onsite", "text": "多设座椅",
                    "external_id": None}  # fmt: skip


def test_a_category_of_the_other_kind_is_refused_beside_the_field_not_filed_as_other() -> None:
    """The service would file a praise category on a suggestion as "other" without a word; the
    kinds' categories are the service's (a hospital's own), not the vocabulary's defaults."""
    refused = misfiled_category(typed(kind="suggestion", category="nursing_care"), OFFERED)
    assert refused is not None
    assert said(refused, "zh") == "该分类不属于所选类型，请重新选择"
    assert said(refused, "en") == "not a category of the kind chosen"
    for kind, category in (("suggestion", "parking"), ("suggestion", "other"), ("praise", "")):
        assert misfiled_category(typed(kind=kind, category=category), OFFERED) is None
    _, no_kind = feedback_body(typed(kind="complaint", text="x", received_at="今天"), TZ)
    assert no_kind == {"kind": "required", "received_at": "invalid"}


def test_a_colleague_is_named_by_id_by_whole_name_or_by_the_one_name_holding_what_was_typed() -> (
    None
):
    li = {"staff_id": "S-DOC-01", "name": "医生 李明", "department_code": "CARD", "role": "doctor"}
    li2 = {
        "staff_id": "S-DOC-07",
        "name": "医生 李明华",
        "department_code": "PED",
        "role": "doctor",
    }
    assert named("s-doc-01", [li, li2]) == [li]
    assert named("医生 李明", [li, li2]) == [li]
    assert named("李明", [li, li2]) == [li, li2]  # several: refused, both named
    several = refusal("李明", [li, li2])
    assert said(several, "zh") == (
        "“李明”对应多名员工：医生 李明 (S-DOC-01)、医生 李明华 (S-DOC-07)，请输入全名或工号"
    )
    assert said(several, "en") == (
        '"李明" matches several members of staff: 医生 李明 (S-DOC-01), 医生 李明华 (S-DOC-07); '
        "type the whole name or the staff id"
    )
    partial = refusal("李明华", [li2])  # part of the one name "医生 李明华": asked again
    assert not _is_whole("李明华", li2) and _is_whole("医生 李明华", li2)
    assert _is_whole("s-doc-07", li2)
    assert said(partial, "en").startswith('"李明华" is not a whole name or staff id; did you mean')
    assert "医生 李明华 (S-DOC-07)" in said(partial, "zh")
    assert (
        said(refusal("王小二", []), "en")
        == 'no active member of staff is called or numbered "王小二"'
    )
    assert (
        said(refusal("王小二", []), "zh") == "没有在职员工的姓名或工号是“王小二”，请核对后重新输入"
    )


def test_every_category_and_kind_reads_in_both_languages() -> None:
    """The defaults and other; a hospital's own read as their codes (wording.label)."""
    codes = (*PRAISE_CATEGORIES, *SUGGESTION_CATEGORIES, "other")
    keys = {f"feedback.category.{c}" for c in codes}
    keys |= {f"feedback.kind.{k}" for k in ("praise", "suggestion")} | {"nav.feedback"}
    for key in keys:
        assert key in catalogue(), key
        assert translate(key, "zh") != translate(key, "en"), key


def test_the_answer_form_is_offered_on_an_open_suggestion_to_a_supervisor_or_its_recorder() -> None:
    open_ = {"feedback_number": "J-1", "kind": "suggestion", "recorded_by": "S-AGENT-01",
             "answered_at": None}  # fmt: skip
    assert can_answer(session("S-SUP-01", "supervisor"), open_)
    assert can_answer(session("S-AGENT-01", "agent"), open_)
    assert not can_answer(session("S-AGENT-02", "agent"), open_)
    assert not can_answer(session("S-ADMIN-01", "admin"), open_)  # operations read, not answer
    assert not can_answer(session("S-SUP-01", "supervisor"), open_ | {"answered_at": "2026"})
    assert not can_answer(session("S-SUP-01", "supervisor"), open_ | {"kind": "praise"})
    assert not can_answer(session("S-SUP-01", "supervisor"), {"feedback_number": "J-1",
                                                              "redacted": True})  # fmt: skip


def test_the_services_refusals_of_an_answer_read_in_chinese() -> None:
    answered = problem_from(409, {"detail": "this suggestion has been answered already"})
    assert said(answered.message, "zh") == "该建议已答复过，不能再次答复"
    assert said(answered.message, "en") == "This suggestion has been answered already"
    stranger = problem_from(409, {"detail": "S-SUP-02 may not answer JY-20261207-000001"})
    assert said(stranger.message, "zh") == "您（S-SUP-02）不能答复 JY-20261207-000001"


def test_the_menu_has_praise_and_suggestions_for_staff_and_operations_not_the_director() -> None:
    for role in ("agent", "doctor", "supervisor", "admin"):
        assert "/feedback" in [i.path for i in navigation_for([role])], role
    assert "/feedback" not in [i.path for i in navigation_for(["director"])]
