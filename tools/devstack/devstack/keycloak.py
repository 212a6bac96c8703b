"""Keycloak, the identity provider people sign in with, run from its distribution on Maven
Central (`org.keycloak:keycloak-quarkus-dist`, tar.gz; no Docker), with the `hospital` realm
of `tools/devstack/keycloak/hospital-realm.json`.

Keycloak is slow to start, so the slow parts are done once per checkout and cached in
`.cache/keycloak-<version>/` (like Kafka's jars):
- `dist/`: the unpacked distribution after `kc.sh build` (Quarkus' build step, ~35 s), so every
  start is `kc.sh start --optimized`;
- `template-<hash>/`: a database (H2 file) with the master realm, its admin and the hospital
  realm already imported (~100 s the first time on a loaded 2-core machine: schema creation,
  master realm, import), and a class-data-sharing archive of the JVM written by that first
  run. A stack's start copies the database (under 1 MB) and maps the archive.
Measured on the shared 2-core machine at load 16: a start from an imported database took 79 s
with the JVM's defaults, 31 s with C1 only (`-XX:TieredStopAtLevel=1`), 15 s with the archive
as well. The hash is of the realm file and the JVM options: change either and it is redone.

`devstack.up` starts Keycloak in the background and does not wait for it (nothing else needs
it to start); whoever needs it calls `wait_ready` (the CLI before printing, tests through the
`keycloak` fixture).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from devstack import procs
from devstack.config import CACHE_DIR, DEVSTACK_DIR, StackConfig
from devstack.procs import StackError

VERSION = "26.7.3"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:tar.gz"
REALM_FILE = DEVSTACK_DIR / "keycloak" / "hospital-realm.json"
REALM = "hospital"
NAME = "keycloak"
# The master realm's administrator (admin console, admin REST API), made in the template.
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "dev-keycloak-admin"
# Build-time options (`kc.sh build`): an H2 file database, which is enough for one developer
# or one test run; a hospital runs its own Keycloak on PostgreSQL (README).
BUILD_OPTIONS = ("--db=dev-file",)
# C1 only: Keycloak's start is mostly JIT work, which two busy cores cannot afford.
JVM_OPTIONS = ("-XX:TieredStopAtLevel=1",)
HEAP = "-Xms64m -Xmx512m"
_DB_FILE = "keycloakdb.mv.db"
_ARCHIVE = "classes.jsa"

_background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="keycloak")
_starting: dict[Path, Future[None]] = {}
# Stacks going down: a start still under way in the background must not spawn Keycloak after
# `down` (or a failed `up`) has stopped what the pid files name. Spawns happen under the lock.
_cancelled: set[Path] = set()
_spawn_lock = threading.Lock()
_stack_locks: dict[Path, threading.Lock] = {}


def realm_url(cfg: StackConfig) -> str:
    return f"{cfg.keycloak_url}/realms/{REALM}"


def cache_root() -> Path:
    return CACHE_DIR / f"keycloak-{VERSION}"


def home() -> Path:
    return cache_root() / "dist"


def _kc_sh() -> str:
    return str(home() / "bin" / "kc.sh")


def distribution_archive() -> Path:
    """The tar.gz in the local Maven repository, fetched with Maven when it is not there."""
    group, artifact, version, ext = ARTIFACT.split(":")
    repo = Path(os.environ.get("MAVEN_REPO_LOCAL", Path.home() / ".m2" / "repository"))
    path = repo.joinpath(*group.split("."), artifact, version, f"{artifact}-{version}.{ext}")
    if not path.exists():
        print(
            f"devstack: downloading Keycloak {VERSION} (about 170 MB) with Maven ...",
            file=sys.stderr,
        )
        procs.run(
            ["mvn", "-q", "-B", "dependency:get", f"-Dartifact={ARTIFACT}", "-Dtransitive=false"],
            what="fetching the Keycloak distribution with Maven",
            timeout=1800,
        )
    if not path.exists():
        raise StackError(f"Maven finished but {path} is not there")
    return path


def _locked(work: Any) -> Any:
    """Run `work()` holding the cache's lock: another `up` may be building the same cache."""
    cache_root().mkdir(parents=True, exist_ok=True)
    with (cache_root() / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return work()


def ensure_built() -> Path:
    """`dist/`: the distribution unpacked and `kc.sh build` run once (marker: the options)."""
    marker = home() / ".built"
    wanted = " ".join(BUILD_OPTIONS)
    if marker.exists() and marker.read_text().strip() == wanted:
        return home()

    def build() -> Path:
        if marker.exists() and marker.read_text().strip() == wanted:
            return home()
        started = time.monotonic()
        unpacked = cache_root() / "unpacking"
        shutil.rmtree(unpacked, ignore_errors=True)
        unpacked.mkdir(parents=True)
        archive = distribution_archive()
        procs.run(["tar", "-xzf", str(archive), "-C", str(unpacked)], what=f"unpacking {archive}")
        shutil.rmtree(home(), ignore_errors=True)
        (unpacked / f"keycloak-{VERSION}").rename(home())
        unpacked.rmdir()
        procs.run([_kc_sh(), "build", *BUILD_OPTIONS], what="kc.sh build", timeout=900)
        marker.write_text(wanted + "\n")
        took = time.monotonic() - started
        print(
            f"devstack: Keycloak {VERSION} unpacked and built in {home()} ({took:.0f}s)",
            file=sys.stderr,
        )
        return home()

    result: Path = _locked(build)
    return result


def template_dir() -> Path:
    digest = hashlib.sha256(REALM_FILE.read_bytes() + " ".join(JVM_OPTIONS).encode())
    return cache_root() / f"template-{digest.hexdigest()[:12]}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _argv(port: int, db_folder: Path) -> list[str]:
    url = f"http://127.0.0.1:{port}"
    return [
        _kc_sh(), "start", "--optimized", "--http-enabled=true", "--http-host=127.0.0.1",
        f"--http-port={port}", f"--hostname={url}", "--cache=local",
        f"--db-url=jdbc:h2:file:{db_folder / 'keycloakdb'};NON_KEYWORDS=VALUE",
    ]  # fmt: skip


def _jvm_env(*extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "JAVA_OPTS_APPEND": " ".join([*JVM_OPTIONS, *extra]),
        "JAVA_OPTS_KC_HEAP": HEAP,
    }


def ensure_template(cfg: StackConfig) -> Path:
    """`template-<hash>/`: the imported database and the JVM's class archive, made once by a
    Keycloak run of its own (on a free port) that imports the realm and is then stopped."""
    folder = template_dir()
    if (folder / _DB_FILE).exists():
        return folder
    ensure_built()  # takes the lock itself: before `make` holds it

    def make() -> Path:
        if (folder / _DB_FILE).exists():
            return folder
        started = time.monotonic()
        work = folder.with_name(folder.name + ".work")
        shutil.rmtree(work, ignore_errors=True)
        imports = home() / "data" / "import"
        shutil.rmtree(imports, ignore_errors=True)
        imports.mkdir(parents=True)
        shutil.copy(REALM_FILE, imports / f"{REALM}-realm.json")
        port = _free_port()
        env = _jvm_env(f"-XX:ArchiveClassesAtExit={work / _ARCHIVE}") | {
            "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USERNAME,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
        argv = [*_argv(port, work), "--import-realm"]
        proc = _spawn(cfg, "keycloak-template", argv, env)
        try:
            procs.wait_until(
                lambda: _realm_answers(f"http://127.0.0.1:{port}"),
                timeout=600, what="Keycloak (first run: importing the realm)",
                log=cfg.log_file("keycloak-template"), pid=proc.pid, interval=1.0,
            )  # fmt: skip
        finally:
            procs.terminate_groups([proc.pid], timeout=120)  # the archive is written at exit
            shutil.rmtree(imports, ignore_errors=True)
        work.rename(folder)
        took = time.monotonic() - started
        print(f"devstack: Keycloak realm imported into {folder} ({took:.0f}s)", file=sys.stderr)
        return folder

    result: Path = _locked(make)
    return result


def _realm_answers(base_url: str) -> bool:
    url = f"{base_url}/realms/{REALM}/.well-known/openid-configuration"
    return httpx.get(url, timeout=5.0).status_code == 200


def start(cfg: StackConfig) -> int:
    """Start this stack's Keycloak unless it runs; returns its pid (does not wait)."""
    pid = procs.running(cfg, NAME)
    if pid is not None:
        return pid
    procs.ensure_port_free(cfg.keycloak_port, "Keycloak")
    template = ensure_template(cfg)
    data = cfg.state_dir / NAME
    if not (data / _DB_FILE).exists():
        data.mkdir(parents=True, exist_ok=True)
        shutil.copy(template / _DB_FILE, data / _DB_FILE)
    archive = template / _ARCHIVE
    extra = [f"-XX:SharedArchiveFile={archive}"] if archive.exists() else []
    return _spawn(cfg, NAME, _argv(cfg.keycloak_port, data), _jvm_env(*extra)).pid


def _spawn(
    cfg: StackConfig, name: str, argv: list[str], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    with _spawn_lock:
        if cfg.state_dir in _cancelled:
            raise StackError(f"Keycloak not started: the stack in {cfg.state_dir} is going down")
        return procs.spawn(cfg, name, argv, env=env)


def wait_ready(cfg: StackConfig, timeout: float = 900.0) -> None:
    """Wait until the hospital realm answers: for a start begun in the background by this
    process (`start_in_background`), that start's own outcome first."""
    pending = _starting.get(cfg.state_dir)
    if pending is not None:
        pending.result(timeout=timeout)
        return
    pid = procs.running(cfg, NAME)
    procs.wait_until(
        lambda: _realm_answers(cfg.keycloak_url),
        timeout=timeout, what="Keycloak", log=cfg.log_file(NAME), pid=pid, interval=0.5,
    )  # fmt: skip


def up(cfg: StackConfig) -> None:
    """Start Keycloak unless it runs and wait until the realm answers. Two `up`s of one stack
    in this process (an `up` again while the first one's Keycloak is still starting) take
    turns, so the second finds the first's Keycloak instead of starting another."""
    with _stack_lock(cfg):
        pid = start(cfg)
        procs.wait_until(
            lambda: _realm_answers(cfg.keycloak_url),
            timeout=300, what="Keycloak", log=cfg.log_file(NAME), pid=pid, interval=0.5,
        )  # fmt: skip
        register_console(cfg)
        drop_offline_access(cfg)


def register_console(cfg: StackConfig) -> None:
    """Let the `console` client send people back to this stack's console. The realm file
    lists the console ports of offsets up to 19000 only; Keycloak matches a loopback
    redirect's port exactly, so at DEVSTACK_TEST_PORT_OFFSET=21000 (console on 29006) every
    sign-in ended on Keycloak's "invalid parameter: redirect_uri" page. The client's
    back-channel logout URL is this stack's console too (the realm file's is port 8006's):
    Keycloak tells it at once when it ends a session. Idempotent."""
    base = f"{cfg.keycloak_url}/admin/realms/{REALM}/clients"
    with httpx.Client(headers=_admin_headers(cfg), timeout=30.0) as admin:
        [client] = admin.get(base, params={"clientId": "console"}).json()
        ours = [f"http://{host}:{cfg.console_port}/*" for host in ("127.0.0.1", "localhost")]
        client["redirectUris"] = sorted(set(client["redirectUris"]) | set(ours))
        logout = client.setdefault("attributes", {}).get("post.logout.redirect.uris", "")
        uris = {u for u in logout.split("##") if u} | set(ours)
        client["attributes"]["post.logout.redirect.uris"] = "##".join(sorted(uris))
        client["attributes"]["backchannel.logout.url"] = (
            f"http://127.0.0.1:{cfg.console_port}/auth/backchannel-logout"
        )
        client["attributes"]["backchannel.logout.session.required"] = "true"
        admin.put(f"{base}/{client['id']}", json=client).raise_for_status()


def drop_offline_access(cfg: StackConfig) -> None:
    """Take `offline_access` out of the realm's default roles. An import always puts it there
    (Keycloak adds the role to the default role before it reads the file's roles), and with it
    anyone could ask for an offline token, which outlives single sign-on's idle and maximum
    times. The console's client does not offer the scope either (the realm file). Idempotent."""
    base = f"{cfg.keycloak_url}/admin/realms/{REALM}"
    with httpx.Client(headers=_admin_headers(cfg), timeout=30.0) as admin:
        default_role = admin.get(base).raise_for_status().json()["defaultRole"]
        composites = f"{base}/roles-by-id/{default_role['id']}/composites"
        offline = [r for r in admin.get(composites).json() if r["name"] == "offline_access"]
        if offline:
            admin.request("DELETE", composites, json=offline).raise_for_status()


def _admin_headers(cfg: StackConfig) -> dict[str, str]:
    resp = httpx.post(
        f"{cfg.keycloak_url}/realms/master/protocol/openid-connect/token",
        data={"grant_type": "password", "client_id": "admin-cli",
              "username": ADMIN_USERNAME, "password": ADMIN_PASSWORD},
        timeout=30.0,
    )  # fmt: skip
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def _stack_lock(cfg: StackConfig) -> threading.Lock:
    with _spawn_lock:
        return _stack_locks.setdefault(cfg.state_dir, threading.Lock())


def start_in_background(cfg: StackConfig) -> Future[None]:
    """`up` in a thread of this process; `wait_ready` waits for it (and raises its error)."""
    with _spawn_lock:
        _cancelled.discard(cfg.state_dir)
    future = _background.submit(up, cfg)
    _starting[cfg.state_dir] = future
    return future


def cancel_background(cfg: StackConfig) -> None:
    """Before `down` (or after a failed `up`) stops the stack: a start under way in the
    background spawns nothing more, and a later `wait_ready` does not answer with it."""
    with _spawn_lock:
        _cancelled.add(cfg.state_dir)
    _starting.pop(cfg.state_dir, None)


def dev_users() -> dict[str, str]:
    """The realm file's people: username -> password (the development realm's only)."""
    realm = json.loads(REALM_FILE.read_text())
    return {
        user["username"]: user["credentials"][0]["value"]
        for user in realm["users"]
        if user.get("credentials")
    }


def client_secrets() -> dict[str, str]:
    """The realm file's confidential clients: client id -> secret."""
    realm = json.loads(REALM_FILE.read_text())
    return {c["clientId"]: c["secret"] for c in realm["clients"] if c.get("secret")}
