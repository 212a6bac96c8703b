"""The Debian packages the stack runs from, installed with apt-get when missing."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from devstack.procs import StackError, run

PG_BIN = Path("/usr/lib/postgresql/15/bin")
BEARERBOX = Path("/usr/sbin/bearerbox")
SMSBOX = Path("/usr/sbin/smsbox")
FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
PROMETHEUS = Path("/usr/bin/prometheus")

# file that must exist -> Debian package that ships it
_REQUIRED: dict[str, str] = {
    str(PG_BIN / "postgres"): "postgresql-15",
    str(PG_BIN / "initdb"): "postgresql-15",
    str(PG_BIN / "pg_ctl"): "postgresql-15",
    str(BEARERBOX): "kannel",
    str(SMSBOX): "kannel",
    str(FAKESMSC): "kannel-extras",
    str(PROMETHEUS): "prometheus",
    "/usr/bin/promtool": "prometheus",
    # the console's browser tests: Debian's Chromium, driven by Playwright, and a CJK font
    # so that Chinese renders in their screenshots (not boxes)
    "/usr/bin/chromium": "chromium",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc": "fonts-noto-cjk",
}
_COMMANDS: dict[str, str] = {
    "java": "openjdk-17-jre-headless",
    "mvn": "maven",
    "openssl": "openssl",  # the devstack Kafka TLS certificates
}


def missing_packages() -> list[str]:
    missing = {pkg for path, pkg in _REQUIRED.items() if not Path(path).exists()}
    missing |= {pkg for cmd, pkg in _COMMANDS.items() if shutil.which(cmd) is None}
    return sorted(missing)


def ensure_packages() -> None:
    """Install every missing package in one apt-get call (services are not auto-started)."""
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        raise StackError(
            f"missing Debian packages {' '.join(missing)}: run "
            f"`sudo apt-get install -y {' '.join(missing)}`"
        )
    print(f"devstack: installing {' '.join(missing)} with apt-get ...", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], what="apt-get update", timeout=600, env=env)
    run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        what="apt-get install",
        timeout=900,
        env=env,
    )
    still = missing_packages()
    if still:
        raise StackError(f"apt-get install did not provide {' '.join(still)}")
