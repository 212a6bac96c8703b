"""The WeCom and DingTalk robot message formats, and DingTalk's signature."""

import base64
import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

from notifications.channels import RobotTarget
from notifications.channels.webhook import payload, signed_url


def test_wecom_text_mentions_the_staff_member_by_mobile() -> None:
    robot = RobotTarget("wecom", "http://x/send?key=k", mention_mobiles=("13800001111",))
    assert payload(robot, "回访任务", "您有新的回访任务") == {
        "msgtype": "text",
        "text": {"content": "您有新的回访任务", "mentioned_mobile_list": ["13800001111"]},
    }


def test_wecom_markdown() -> None:
    robot = RobotTarget("wecom", "http://x", msgtype="markdown")
    assert payload(robot, "投诉超时", "案件TS-1超时") == {
        "msgtype": "markdown",
        "markdown": {"content": "**投诉超时**\n案件TS-1超时"},
    }


def test_dingtalk_text_and_markdown_name_the_mentioned_mobile() -> None:
    robot = RobotTarget("dingtalk", "http://x", mention_mobiles=("13800001111",))
    assert payload(robot, "s", "内容") == {
        "msgtype": "text",
        "text": {"content": "内容 @13800001111"},
        "at": {"atMobiles": ["13800001111"], "isAtAll": False},
    }
    md = payload(RobotTarget("dingtalk", "http://x", msgtype="markdown"), "标题", "内容")
    assert md["markdown"] == {"title": "标题", "text": "#### 标题\n内容"}


def test_dingtalk_signature_is_hmac_sha256_of_timestamp_and_secret() -> None:
    url = signed_url("https://oapi.example/robot/send?access_token=t", "SECret", 1700000000000)
    query = parse_qs(urlsplit(url).query)
    expected = base64.b64encode(
        hmac.new(b"SECret", b"1700000000000\nSECret", hashlib.sha256).digest()
    ).decode()
    assert query["access_token"] == ["t"] and query["timestamp"] == ["1700000000000"]
    assert query["sign"] == [expected]
