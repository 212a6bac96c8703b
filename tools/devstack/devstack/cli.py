"""`devstack up|down|status [--test]`: the native stack from the command line."""

from __future__ import annotations

import argparse
import os
import sys
import time

from devstack import keycloak, stack
from devstack.config import KANNEL_ADMIN_PASSWORD, SERVICES, StackConfig
from devstack.procs import StackError


def _config(test: bool) -> StackConfig:
    return StackConfig.for_tests() if test else StackConfig.default()


def _print_up(cfg: StackConfig, env: dict[str, str], with_services: bool, took: float) -> None:
    print(f"\nThe stack is up ({took:.0f}s). State folder: {cfg.state_dir}")
    print(f"  Kafka          {cfg.kafka_bootstrap}")
    print(f"  PostgreSQL     {cfg.database_url}")
    print(f"  Kannel sendsms {cfg.kannel_sendsms_url}")
    print(f"  Kannel status  {cfg.kannel_admin_url}/status?password={KANNEL_ADMIN_PASSWORD}")
    print(f"  Prometheus     {cfg.prometheus_url}")
    print(f"  Alertmanager   {cfg.alertmanager_url}")
    for name in SERVICES:
        note = "" if with_services else "   (not started: --no-services)"
        print(f"  {name:<14} {cfg.service_url(name)}{note}")
    print(f"  MLLP           127.0.0.1:{cfg.mllp_port}")
    print(
        f"  Keycloak       {cfg.keycloak_url}/admin/  (realm {keycloak.REALM}; admin console:"
        f" {keycloak.ADMIN_USERNAME} / {keycloak.ADMIN_PASSWORD})"
    )
    print(f"\nEnvironment: {cfg.env_file}   (load it: . {cfg.env_file})")
    print(f"Logs:        {cfg.logs_dir}/")
    print("Dev tokens (Authorization: Bearer <token>):")
    for key, value in env.items():
        if key.startswith("TOKEN_"):
            print(f"  {key:<18} {value}")
    print("Sign-in (Keycloak, realm hospital): user / password")
    for user, password in keycloak.dev_users().items():
        print(f"  {user:<18} {password}")
    print(f"Stop it with: {down_command(cfg)}")


def down_command(cfg: StackConfig) -> str:
    """The command that stops this stack: a test stack on another offset than the default is
    found only with the same DEVSTACK_TEST_PORT_OFFSET (without it, `down --test` stopped
    nothing)."""
    if not cfg.state_dir.name.startswith(".stack-test"):
        return "devstack down"
    offset = os.environ.get("DEVSTACK_TEST_PORT_OFFSET")
    prefix = f"DEVSTACK_TEST_PORT_OFFSET={offset} " if offset else ""
    return f"{prefix}devstack down --test"


def _status(cfg: StackConfig) -> int:
    print(f"State folder: {cfg.state_dir}")
    for comp in stack.status(cfg).values():
        state = f"running (pid {comp.pid})" if comp.running else "stopped"
        print(f"  {comp.name:<14} {state:<22} {comp.url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("up", "start the stack (and reuse what already runs)"),
        ("down", "stop everything the stack started"),
        ("status", "show what runs"),
    ):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument(
            "--test", action="store_true", help="the test stack (.stack-test, ports + 10000)"
        )
        if name == "up":
            cmd.add_argument("--no-services", action="store_true", help="infrastructure only")
    args = parser.parse_args(argv)
    cfg = _config(args.test)
    try:
        if args.command == "up":
            started = time.monotonic()
            env = stack.up(cfg, with_services=not args.no_services)
            keycloak.wait_ready(cfg)
            _print_up(cfg, env, not args.no_services, time.monotonic() - started)
            return 0
        if args.command == "down":
            stack.down(cfg)
            print(f"devstack: stopped everything recorded in {cfg.state_dir}")
            return 0
        return _status(cfg)
    except StackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
