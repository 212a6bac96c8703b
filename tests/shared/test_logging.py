import json
import logging
import subprocess
import sys
from typing import Any

import structlog

from hospital_shared import logging as hospital_logging
from hospital_shared.logging import configure_logging, flush_repeated_logs, mask_phone


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


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _lines(capsys) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return [json.loads(line) for line in capsys.readouterr().err.strip().splitlines() if line]


def _limited(clock: FakeClock) -> None:
    configure_logging(service="test", repeat_window_s=10)
    assert hospital_logging._ACTIVE is not None
    hospital_logging._ACTIVE.limiter.clock = clock


def test_a_kafka_outage_logs_each_repeated_error_once_then_a_summary(capsys) -> None:  # type: ignore[no-untyped-def]
    """The metrics service wrote ~8,600 of aiokafka's "Unable connect" lines in under a
    minute of Kafka outage: now one line, then one summary per window."""
    clock = FakeClock()
    _limited(clock)
    kafka = logging.getLogger("aiokafka.conn")
    for i in range(8600):
        clock.now += 0.001
        kafka.error("Unable connect to node with id %s: %s", i % 3, "Connection refused")
    logging.getLogger("aiokafka.consumer").warning("other message, written")
    lines = _lines(capsys)
    assert [line["event"] for line in lines] == [
        "Unable connect to node with id 0: Connection refused",
        "other message, written",
    ]
    clock.now += 10
    flush_repeated_logs()
    [summary] = _lines(capsys)
    assert summary["event"] == (
        "Unable connect to node with id %s: %s (repeated 8599 times in the last 19 s)"
    )
    assert summary["repeated"] == 8599 and summary["logger"] == "aiokafka.conn"
    assert summary["level"] == "error" and summary["service"] == "test"
    flush_repeated_logs()
    assert _lines(capsys) == []  # said once
    structlog.reset_defaults()


def test_our_own_repeated_warnings_are_summarised_when_the_next_one_comes(capsys) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock()
    _limited(clock)
    log = structlog.get_logger("consumer-test")
    for _ in range(5):
        log.warning("failure outside the handler, retrying batch", backoff_s=1)
        log.info("batch handled")  # info lines are never limited
    clock.now += 11
    log.warning("failure outside the handler, retrying batch", backoff_s=2)
    events = [(line["event"], line.get("repeated")) for line in _lines(capsys)]
    assert events == [
        ("failure outside the handler, retrying batch", None),
        *[("batch handled", None)] * 5,
        ("failure outside the handler, retrying batch (repeated 4 times in the last 11 s)", 4),
        ("failure outside the handler, retrying batch", None),
    ]
    structlog.reset_defaults()


def test_a_window_of_zero_writes_every_line(capsys) -> None:  # type: ignore[no-untyped-def]
    configure_logging(service="test", repeat_window_s=0)
    for _ in range(3):
        logging.getLogger("aiokafka").error("Unable connect to %s", "node")
    assert len(_lines(capsys)) == 3
    structlog.reset_defaults()


HL7_UTIL_LOGGER = "/venv/lib/python3.11/site-packages/hl7/util.py"  # hl7 names it by its path


def test_the_hl7_librarys_lines_quoting_a_field_are_not_written(capsys) -> None:  # type: ignore[no-untyped-def]
    # hl7 logs the whole field (a patient's name) when it cannot unescape it.
    configure_logging(service="test", repeat_window_s=0)
    try:
        logging.getLogger(HL7_UTIL_LOGGER).warning("Error decoding value [%s]", "王\\Zxy\\")
        logging.getLogger("aiokafka").warning("still written")
    finally:
        structlog.reset_defaults()
    err = capsys.readouterr().err
    assert "王" not in err and "Error decoding" not in err
    assert "still written" in err


def test_a_process_without_log_configuration_drops_them_too() -> None:
    # A parse-pool worker (spawned, never configured) wrote them through Python's last resort.
    script = (
        "import logging\n"
        "from hospital_shared.logging import keep_library_quotes_out\n"
        "keep_library_quotes_out()\n"
        f"logging.getLogger({HL7_UTIL_LOGGER!r}).warning('Error decoding value [王]')\n"
        "logging.getLogger('other').warning('still written')\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "王" not in run.stderr and "still written" in run.stderr
