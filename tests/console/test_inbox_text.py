"""The inbox shows a note's text without the address of the page its "open" button goes to
(the notifications service puts it at the end for the SMS, e-mail and group-chat channels)."""

from console.inbox import page_of, shown_text

TASK_NOTE = "【回访任务】您有新的回访任务FU-1（出院回访），请于11月26日 17:30前完成。"


def test_the_address_of_the_notes_own_page_is_left_out() -> None:
    page = page_of("task:FU-1")
    assert page == "/calls/FU-1"
    body = f"{TASK_NOTE} http://console.hospital.local:8080/calls/FU-1"
    assert shown_text(body, page) == TASK_NOTE
    assert shown_text(f"{body}。", page) == TASK_NOTE


def test_any_other_address_and_a_note_without_a_page_are_shown_whole() -> None:
    other = f"{TASK_NOTE} https://intranet.hospital.local/rota"
    assert shown_text(other, "/calls/FU-1") == other
    assert shown_text(f"{TASK_NOTE} https://c.local/calls/FU-12", "/calls/FU-1") != TASK_NOTE
    in_the_middle = "请打开 https://c.local/calls/FU-1 处理"
    assert shown_text(in_the_middle, "/calls/FU-1") == in_the_middle
    assert shown_text(TASK_NOTE, None) == TASK_NOTE
    assert shown_text(None, "/calls/FU-1") is None
