"""Classifying complaints from their text with the editable keyword rules (中文 and English)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from complaints.classifier import CategoryRule, RuleSet, classify, matches
from complaints.default_rules import default_rules
from complaints.domain import Category

RULES = default_rules()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("挂号处工作人员态度很差，还骂人", Category.STAFF_ATTITUDE),
        ("The nurse was very rude to my mother", Category.STAFF_ATTITUDE),
        ("在门诊排队等了三个小时", Category.WAITING_TIME),
        ("We waited four hours in the queue", Category.WAITING_TIME),
        ("药费多收了200元，要求退费", Category.BILLING),
        ("I was overcharged and want a refund", Category.BILLING),
        ("化验单上的检验结果有误", Category.REPORT_ERROR),
        ("The lab result was for another patient", Category.REPORT_ERROR),
        ("病房卫生太差，厕所很脏", Category.ENVIRONMENT),
        ("The ward was dirty and noisy", Category.ENVIRONMENT),
        ("做了CT，片子看不清，要求重新拍", Category.IMAGING_DISPUTE),
        ("The MRI was read wrongly by radiology", Category.IMAGING_DISPUTE),
        ("术后出现感染，治疗效果不好", Category.MEDICAL_QUALITY),
        ("食堂的菜太咸了", Category.OTHER),
    ],
)
def test_default_rules_classify_chinese_and_english(text: str, category: Category) -> None:
    assert classify(text, RULES).category == category


def test_the_case_shows_which_rule_matched() -> None:
    verdict = classify("挂号处工作人员态度很差", RULES)
    rule = next(r for r in RULES if r.id == verdict.rule_id)
    assert (verdict.source, rule.keyword, verdict.keyword) == ("rule", "态度", "态度")
    assert f"rule #{rule.id}" in verdict.explain() and "态度" in verdict.explain()


def test_malpractice_keywords_make_a_case_serious() -> None:
    for text in ("怀疑是医疗事故，家属要求说法", "This was malpractice", "误诊导致病情加重"):
        verdict = classify(text, RULES)
        assert verdict.serious, text
        assert verdict.category == Category.MEDICAL_QUALITY
        assert verdict.serious_keyword is not None


def test_medical_quality_is_serious_even_without_a_serious_keyword() -> None:
    verdict = classify("手术后并发症", RULES)
    assert verdict.category == Category.MEDICAL_QUALITY and verdict.serious
    assert "always serious" in verdict.explain()


def test_a_serious_keyword_counts_even_when_a_category_was_submitted() -> None:
    verdict = classify("收费有问题，而且是医疗事故", RULES, submitted_category="billing")
    assert (verdict.category, verdict.source, verdict.serious) == (
        Category.BILLING,
        "submitted",
        True,
    )


def test_a_known_submitted_category_is_kept() -> None:
    verdict = classify("some text", RULES, submitted_category="Waiting_Time")
    assert (verdict.category, verdict.source, verdict.rule_id) == (
        Category.WAITING_TIME,
        "submitted",
        None,
    )


def test_an_unknown_submitted_category_is_classified_with_the_text() -> None:
    verdict = classify("窗口的问题", RULES, submitted_category="服务态度")
    assert (verdict.category, verdict.source) == (Category.STAFF_ATTITUDE, "rule")


def test_no_match_defaults_to_other_and_says_so() -> None:
    verdict = classify("没有关键词", RULES)
    assert (verdict.category, verdict.source, verdict.serious) == (Category.OTHER, "default", False)
    assert "no rule matched" in verdict.explain()


def test_latin_keywords_match_at_word_starts_only() -> None:
    assert classify("The doctor was kind", RULES).category == Category.OTHER  # not "CT"
    assert classify("做了CT检查", RULES).category == Category.IMAGING_DISPUTE
    assert classify("REFUNDS please", RULES).category == Category.BILLING


def test_the_hospital_edits_win_position_then_enabled() -> None:
    edited = [*RULES, CategoryRule(999, Category.ENVIRONMENT, "空调", position=1)]
    assert classify("空调太冷，排队也久", edited).category == Category.ENVIRONMENT
    disabled = [
        CategoryRule(
            r.id, r.category, r.keyword, r.serious, r.position, enabled=r.keyword != "排队"
        )
        for r in RULES
    ]
    assert classify("排队", disabled).category == Category.OTHER


def test_serious_categories_are_configurable() -> None:
    verdict = classify("多收费", RULES, serious_categories=("billing",))
    assert verdict.serious


KEYWORDS = [r.keyword for r in default_rules()] + [
    "Ｃ超",
    "ß",
    "K线",
    "ǅ",
    " 态度 ",
    "",
    "skin",
    "is",
]


@given(
    st.lists(
        # with the letters Python's case-insensitive matching treats as equal to ASCII ones
        st.sampled_from(
            [*KEYWORDS, "CT", "ｃｔ", "SS", "\u017fkin", "\u212ain", "\u0131s", "İS", "ǆ", "x"]
        ),
        max_size=6,
    ).map("".join)
)
def test_a_rule_set_finds_exactly_the_rules_that_match_one_by_one(text: str) -> None:
    rules = [CategoryRule(i, Category.OTHER, k, position=i % 7) for i, k in enumerate(KEYWORDS)]
    expected = sorted((r for r in rules if matches(r, text)), key=lambda r: (r.position, r.id))
    assert RuleSet(rules).hits(text) == expected


def test_a_submitted_category_is_explained_as_the_submitters() -> None:
    verdict = classify("some text", RULES, submitted_category="billing")
    assert verdict.explain() == "category billing given by the submitter"


def test_a_keyword_in_accented_letters_matches_in_any_case() -> None:
    """Only keywords without cased letters (Chinese) are matched as plain substrings; one with
    accented letters ignores case as a Latin one does."""
    for keyword, text in (("médecin", "Le MÉDECIN était absent"), ("MÉDECIN", "le médecin")):
        rule = CategoryRule(id=90, category=Category.STAFF_ATTITUDE, keyword=keyword)
        verdict = classify(text, [rule])
        assert (verdict.category, verdict.rule_id) == (Category.STAFF_ATTITUDE, 90), keyword


def test_an_ascii_keyword_without_letters_also_matches_only_at_a_word_start() -> None:
    """`120` (the ambulance number) is found in "打了120" and "called 120", not inside "B120"."""
    rule = CategoryRule(id=91, category=Category.WAITING_TIME, keyword="120")
    assert classify("打了120没人来", [rule]).rule_id == 91
    assert classify("I called 120 twice", [rule]).rule_id == 91
    assert classify("Room B120 was cold", [rule]).rule_id is None


def test_a_keyword_matches_as_case_insensitive_matching_says_even_where_lower_case_differs() -> (
    None
):
    """`İ` lower-cases to two characters (i and a dot), yet `İzmir` is found in "from izmir":
    the quick pre-test on lower-cased text is kept for ASCII keywords, where it is exact."""
    rule = CategoryRule(id=92, category=Category.OTHER, keyword="İzmir")
    assert classify("a patient from izmir", [rule]).rule_id == 92


def test_a_submitted_category_name_is_not_read_as_the_complaints_words() -> None:
    """A serious rule for the word `error` does not fire on a case filed as report_error whose
    text does not say it."""
    rule = CategoryRule(id=93, category=Category.REPORT_ERROR, keyword="error", serious=True)
    verdict = classify("the bill was wrong", [rule], submitted_category="report_error")
    assert (verdict.category, verdict.serious) == (Category.REPORT_ERROR, False)
    assert not classify("the bill was wrong", [rule]).serious
