"""The native development and test stack: Kafka (KRaft, Maven jars), PostgreSQL, Kannel,
Prometheus and the five services, run as local processes (no Docker).

    from devstack import StackConfig, up, down
    cfg = StackConfig.for_tests(repo)
    env = up(cfg, with_services=False)
"""

from devstack.config import SERVICES, StackConfig
from devstack.kannel import inject_mo
from devstack.postgres import restart_postgres, start_postgres, stop_postgres
from devstack.procs import StackError
from devstack.services import service_pids, start_service, wait_ready, wait_ready_async
from devstack.stack import ComponentStatus, down, status, up, wipe, write_env

__all__ = [
    "SERVICES",
    "ComponentStatus",
    "StackConfig",
    "StackError",
    "down",
    "inject_mo",
    "restart_postgres",
    "service_pids",
    "start_postgres",
    "start_service",
    "status",
    "stop_postgres",
    "up",
    "wait_ready",
    "wait_ready_async",
    "wipe",
    "write_env",
]
