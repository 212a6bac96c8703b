"""What the survey page publishes, every consumer can read: any form the page accepts makes a
`survey.answered` event that the shared decoder takes, with the answers as given. A comment
holding a NUL was accepted and its link marked answered, then every consumer's decoder
refused the event (follow-up, complaints and metrics dead-lettered it): a dissatisfied
patient's second call was never planned, and the link could not be answered again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from hospital_shared import codec, topics
from hospital_shared.questionnaires import AnswerRefused, ContactKind, check_answers, default
from notifications.survey_answers import given_answers, publish_answered
from notifications.survey_links import token_hash
from tests.notifications.survey_fakes import FakeSurveyDb

OUTPATIENT = default(ContactKind.OUTPATIENT_VISIT)
# What a patient, an old page or a hand-made form may post: the scale in both spellings,
# scores on and off it, text at and past its limit, NUL and lone surrogates; now and then
# anything at all. (Hypothesis draws the first of a list most often: the odd ones first.)
CHOICES = ["satisfied", "fairly_satisfied", "dissatisfied", " 满意 ", "不满意"]
SCORES = ["²", "٣", "9" * 5000, "", "1", "3", "5", "05", " 4", "6"]
TEXTS = ["hi\x00there", "\x00", "hi\ud800", "", " ", "好" * 500, f" {'好' * 500} ", "好" * 501]
ANYTHING = st.text(st.characters(exclude_categories=()))


@st.composite
def forms(draw: st.DrawFn) -> dict[str, str]:
    """A posted form: mostly the parts each question takes, rarely one it does not."""
    fields: dict[str, str] = {}
    for q in OUTPATIENT.questions:
        takes = {"q": q.answer == "scale", "s": q.score, "t": q.answer == "text"}
        for part, values in (("q", CHOICES), ("s", SCORES), ("t", TEXTS)):
            if draw(st.integers(0, 99)) < (50 if takes[part] else 1):
                odd = draw(st.integers(0, 19)) == 0
                fields[f"{part}.{q.id}"] = draw(ANYTHING if odd else st.sampled_from(values))
    return fields


@settings(max_examples=500, deadline=None)
@given(forms())
@example({"q.overall": "dissatisfied", "t.comments": "hi\x00there"})  # was dead-lettered
@example({"q.overall": "satisfied", "s.overall": "²"})  # was a 500
def test_every_form_the_page_accepts_makes_an_event_every_consumer_decodes(
    fields: dict[str, str],
) -> None:
    try:
        answers = check_answers(OUTPATIENT, given_answers(fields))  # type: ignore[arg-type]
    except AnswerRefused:
        event("refused")  # the share of each: --hypothesis-show-statistics
        return
    event("accepted")
    db = FakeSurveyDb()
    link = db.links[token_hash(db.add_link())]
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    asyncio.run(publish_answered(db, link, OUTPATIENT, answers, now=now))  # type: ignore[arg-type]
    (payload,) = db.outbox
    decoded = codec.decode(payload, expected_topic=topics.SURVEYS)
    assert decoded.data.answers == answers
