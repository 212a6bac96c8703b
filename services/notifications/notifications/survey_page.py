"""The survey page patients open from an SMS: plain HTML with its style inline, no script,
no font, no image and no outside asset (a few KB over a slow line), laid out for a 360 px
wide phone first. Pure: strings in, HTML out; every value is escaped.

The page names no patient, visit or doctor: whoever holds the phone sees only the hospital
and the questions."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from hospital_shared.questionnaires import Question, Questionnaire
from hospital_shared.service_events.followup import Satisfaction

_STYLE = """
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1b1b1b;
background:#f3f5f7}main{max-width:560px;margin:0 auto;padding:16px}
h1{font-size:20px;margin:8px 0 4px}p.sub{margin:0 0 16px;color:#555;font-size:14px}
fieldset{border:0;background:#fff;border-radius:10px;margin:0 0 12px;padding:12px 14px}
legend{float:left;width:100%;padding:0;margin-bottom:8px;font-weight:600}
.req{color:#b3261e}.opts{clear:both;display:flex;gap:8px}
.opts label{flex:1;text-align:center;border:1px solid #c7ccd1;border-radius:8px;
padding:10px 4px;min-height:44px}.opts input{margin:0 4px 0 0}
.opts label:has(input:checked){border-color:#0b6bcb;background:#e8f1fb;font-weight:600}
.score{margin-top:8px;font-size:14px;color:#444}.score select{font-size:16px;padding:4px}
textarea{clear:both;display:block;width:100%;font:inherit;min-height:88px;padding:8px;
border:1px solid #c7ccd1;border-radius:8px}
button{width:100%;font-size:18px;padding:12px;border:0;border-radius:10px;background:#0b6bcb;
color:#fff;margin:4px 0 24px}.err{background:#fdecea;color:#8a1c14;border-radius:8px;
padding:10px 12px;margin:0 0 12px}.q-err{clear:both;color:#b3261e;font-weight:600;
margin:0 0 8px}fieldset.bad{outline:2px solid #b3261e}.note{background:#fff;border-radius:10px;padding:24px 16px;
text-align:center;margin-top:24px}.note h1{margin-top:0}.note button{margin:8px 0 0}
"""

_CHOICES = (Satisfaction.SATISFIED, Satisfaction.FAIRLY_SATISFIED, Satisfaction.DISSATISFIED)

# What each refusal tells the patient: (HTTP status, title, text). Never a trace or a code.
REFUSALS: dict[str, tuple[int, str, str]] = {
    "unknown": (404, "链接无效", "这个调查链接无法识别。请检查短信中的链接是否完整。"),
    "expired": (410, "链接已过期", "这个调查已经结束，感谢您的关注。"),
    "used": (410, "已经提交过了", "这份调查已经填写过，每个链接只能提交一次。感谢您的反馈！"),
    "too_many": (429, "操作太频繁", "请稍等几分钟后再试。"),
    "too_large": (413, "内容太长", "填写的内容太长，请精简后重新打开链接提交。"),
    "bad_form": (400, "无法识别提交的内容", "请重新点击短信中的链接打开调查页面后再提交。"),
    "unavailable": (503, "服务暂时不可用", "请稍后再试，您的链接仍然有效。"),
}


def _page(title: str, body: str, hospital: str) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)} - {escape(hospital)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


KEPT = "您填写的内容已为您保留，稍后点击“再次提交”即可，无需重新填写。"


def refusal_page(
    reason: str, hospital: str, *, kept: Mapping[str, str] | None = None, action: str = ""
) -> tuple[int, str]:
    """The page of a refusal; with `kept` (the fields of a form refused for a while: too many
    requests, the service unavailable), a button that posts them to `action` again, so the
    patient's answers are not lost and are sent only by the patient's press."""
    status, title, text = REFUSALS[reason]
    again = ""
    if kept:
        hidden = "".join(
            f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
            for name, value in kept.items()
        )
        again = (
            f'<form method="post" action="{escape(action)}">{hidden}<p>{escape(KEPT)}</p>'
            '<button type="submit">再次提交</button></form>'
        )
    body = f'<div class="note"><h1>{escape(title)}</h1><p>{escape(text)}</p>{again}</div>'
    return status, _page(title, body, hospital)


def thanks_page(hospital: str) -> str:
    body = (
        '<div class="note"><h1>感谢您的评价！</h1>'
        "<p>您的意见已经收到，我们会认真改进。</p>"
        f"<p>{escape(hospital)}</p></div>"
    )
    return _page("感谢您的评价", body, hospital)


def form_page(
    questionnaire: Questionnaire,
    *,
    hospital: str,
    action: str,
    csrf: str,
    given: Mapping[str, Mapping[str, str]] | None = None,
    error: str | None = None,
    wrong: tuple[str, str] | None = None,
) -> str:
    """The questionnaire as a form posting to `action`; `given` and `error` show a refused
    submission again with what the patient chose and what to fix, `wrong` (question id, what
    is wrong) marks the question itself, its fields described by the mark for a screen
    reader, the summary staying at the top."""
    given = given or {}
    parts = [
        f"<h1>{escape(questionnaire.title)}</h1>",
        f'<p class="sub">{escape(hospital)} · 约1分钟 · 带<span class="req">*</span>为必答<br>'
        "您的回答仅用于改进服务</p>",
    ]
    if error:
        parts.append(f'<p class="err" role="alert">{escape(error)}</p>')
    parts.append(f'<form method="post" action="{escape(action)}">')
    parts.append(f'<input type="hidden" name="csrf" value="{escape(csrf)}">')
    parts.append(f'<input type="hidden" name="v" value="{questionnaire.version}">')
    marks = dict([wrong]) if wrong else {}
    parts += [_question(q, given.get(q.id, {}), marks.get(q.id)) for q in questionnaire.questions]
    parts.append('<button type="submit">提交</button></form>')
    return _page(questionnaire.title, "".join(parts), hospital)


def _question(q: Question, given: Mapping[str, str], wrong: str | None = None) -> str:
    qid = escape(q.id)
    mark = '<span class="req">*</span>' if q.required else ""
    head = f'<fieldset><legend id="l-{qid}">{escape(q.text)}{mark}</legend>'
    described = ""
    if wrong:
        head = (
            f'<fieldset class="bad"><legend id="l-{qid}">{escape(q.text)}{mark}</legend>'
            f'<p class="q-err" id="e-{qid}">{escape(wrong)}</p>'
        )
        described = f' aria-invalid="true" aria-describedby="e-{qid}"'
    if q.answer == "text":
        text = escape(given.get("text", ""))
        return (
            f'{head}<textarea name="t.{qid}" maxlength="500" aria-labelledby="l-{qid}"'
            f"{described}>{text}</textarea></fieldset>"
        )
    opts = "".join(
        f'<label><input type="radio" name="q.{qid}" value="{c.value}"{described}'
        f"{' checked' if given.get('satisfaction') == c.value else ''}>{c.label_zh}</label>"
        for c in _CHOICES
    )
    score = ""
    if q.score:
        chosen = given.get("score", "")
        options = '<option value="">-</option>' + "".join(
            f'<option value="{n}"{" selected" if chosen == str(n) else ""}>{n}</option>'
            for n in range(5, 0, -1)
        )
        score = (
            f'<div class="score"><label for="s-{qid}">评分（5分最好）：</label>'
            f'<select id="s-{qid}" name="s.{qid}"{described}>{options}</select></div>'
        )
    return f'{head}<div class="opts">{opts}</div>{score}</fieldset>'
