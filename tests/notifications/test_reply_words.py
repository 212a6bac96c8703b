"""What an incoming SMS means: an opt-out, an opt-in or nothing (notifications' defaults)."""

import pytest

from notifications.optouts import classify_reply
from notifications.settings import Settings

OUT = Settings.model_fields["opt_out_keywords"].default
IN = Settings.model_fields["opt_in_keywords"].default


@pytest.mark.parametrize(
    "text",
    ["退订", " stop! ", "ＴＤ", "t", "退訂", "取消訂閱", "请退订", "退订，谢谢", "TD退订",
     "退订!!!", "Stop please", "unsubscribe me", "我要退订"],
)  # fmt: skip
def test_a_reply_that_asks_for_no_more_opts_out(text: str) -> None:
    assert classify_reply(text, OUT, IN) == "opt_out"


@pytest.mark.parametrize(
    "text",
    ["不要退订", "别退订谢谢", "don't stop", "收到", "好的谢谢", "T2", "明天上午能改到下午吗",
     "我想问一下退订以后还能收到复诊提醒吗", "Thanks, see you tomorrow"],
)  # fmt: skip
def test_anything_else_is_not_an_opt_out(text: str) -> None:
    assert classify_reply(text, OUT, IN) != "opt_out"


@pytest.mark.parametrize("text", ["START", "订阅", "訂閱", "start."])
def test_an_opt_in_is_its_word_exactly(text: str) -> None:
    assert classify_reply(text, OUT, IN) == "opt_in"


def test_an_opt_in_inside_a_sentence_is_nothing() -> None:
    assert classify_reply("请帮我订阅", OUT, IN) == "none"
