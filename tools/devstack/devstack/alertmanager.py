"""Alertmanager from Debian's package (`prometheus-alertmanager`): Prometheus sends it the
alerts of deploy/prometheus/rules, and it routes every one to the notifications service's
webhook receiver (`POST /v1/alerts`, with the integration token), which tells the on-duty
supervisor on their own channels."""

from __future__ import annotations

from pathlib import Path

import httpx

from devstack import procs, prometheus
from devstack.config import StackConfig
from devstack.system import ALERTMANAGER

NAME = "alertmanager"


def config_path(cfg: StackConfig) -> Path:
    return cfg.state_dir / "alertmanager" / "alertmanager.yml"


def integration_token() -> str:
    from hospital_shared.auth import DEV_TOKENS, Role  # as config.env does: only when used

    return next(t for t, p in DEV_TOKENS.items() if p.role is Role.INTEGRATION)


def build_config(cfg: StackConfig) -> dict[str, object]:
    """One route to one receiver; short waits so a test sees an alert within seconds of it
    firing, and a firing alert is repeated every 4 h (one message per firing: the receiver
    keys it by fingerprint and start)."""
    return {
        "route": {
            "receiver": "notifications",
            "group_by": ["alertname", "job", "department", "kpi"],
            "group_wait": "2s",
            "group_interval": "10s",
            "repeat_interval": "4h",
        },
        "receivers": [
            {
                "name": "notifications",
                "webhook_configs": [
                    {
                        "url": f"{cfg.service_url('notifications')}/v1/alerts",
                        "send_resolved": True,
                        "http_config": {
                            "authorization": {"type": "Bearer", "credentials": integration_token()}
                        },
                    }
                ],
            }
        ],
    }


def write_config(cfg: StackConfig) -> Path:
    return prometheus.write_generated(config_path(cfg), build_config(cfg))


def is_ready(cfg: StackConfig) -> bool:
    return prometheus.answers_ready(cfg.alertmanager_url)


def up(cfg: StackConfig) -> None:
    """Start Alertmanager unless it runs (clustering off: one node); ready when `/-/ready`
    answers 200. A running one reloads its regenerated configuration."""
    config = write_config(cfg)
    pid = procs.running(cfg, NAME)
    if pid is None:
        procs.ensure_port_free(cfg.alertmanager_port, "Alertmanager")
        data = cfg.state_dir / "alertmanager" / "data"
        data.mkdir(parents=True, exist_ok=True)
        argv = [
            str(ALERTMANAGER),
            f"--config.file={config}",
            f"--storage.path={data}",
            f"--web.listen-address=127.0.0.1:{cfg.alertmanager_port}",
            "--cluster.listen-address=",
        ]
        pid = procs.spawn(cfg, NAME, argv).pid
    else:
        httpx.post(f"{cfg.alertmanager_url}/-/reload", timeout=5.0)
    procs.wait_until(
        lambda: is_ready(cfg), timeout=30, what="Alertmanager", log=cfg.log_file(NAME), pid=pid
    )
