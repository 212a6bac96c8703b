import json
import logging

import structlog

from hospital_shared.logging import configure_logging, mask_phone


def test_mask_phone_in_free_text() -> None:
    assert mask_phone("call 13800138000 now") == "call 138****8000 now"
    assert mask_phone("+86 13912345678") == "+86 139****5678"
    assert mask_phone("order 123456789012345") == "order 123456789012345"


def test_log_lines_are_json_with_names_and_phones_masked(capsys) -> None:  # type: ignore[no-untyped-def]
    configure_logging(service="test")
    structlog.get_logger().info(
        "sending to 13800138000", patient={"name": "张三丰", "phone": "13800138000"}, name="李四"
    )
    logging.getLogger("aiokafka").warning("stdlib line with 13912345678")
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    text = json.dumps(lines, ensure_ascii=False)
    assert "13800138000" not in text and "13912345678" not in text
    assert "张三丰" not in text and "李四" not in text
    assert lines[0]["patient"]["name"] == "张**"
    assert lines[0]["service"] == "test"
    structlog.reset_defaults()


def test_http_client_request_urls_are_not_logged(capsys) -> None:  # type: ignore[no-untyped-def]
    """httpx logs each request's URL at INFO: for Kannel that carries the password and the
    message text."""
    configure_logging(service="test")
    url = "http://kannel/cgi-bin/sendsms?password=secret&text=%E5%BC%A0%E4%B8%89"
    logging.getLogger("httpx").info('HTTP Request: GET %s "HTTP/1.1 202 Accepted"', url)
    logging.getLogger("httpx").warning("gateway slow")
    err = capsys.readouterr().err
    assert "secret" not in err and "sendsms" not in err
    assert "gateway slow" in err
    structlog.reset_defaults()
