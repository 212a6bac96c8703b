"""PostgreSQL 15 from the Debian binaries, with its own data folder under the state folder.

PostgreSQL refuses to run as root: when we are root, the folder belongs to the `postgres`
system user and initdb/pg_ctl run through `runuser -u postgres --`. That user must be able to
enter every folder above it; a checkout under a home folder of mode 0700 is not, so then the
data folder, socket and server log live in `/var/lib/postgresql/devstack-<key>` instead (key:
a hash of the state folder's path), and `<state>/logs/postgres.log` links to that log.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import stat
from pathlib import Path

from devstack import procs
from devstack.config import PG_DATABASE, PG_PASSWORD, PG_USER, StackConfig
from devstack.procs import StackError
from devstack.system import PG_BIN

NAME = "postgres"
_SOCKET_PATH_MAX = 90  # sun_path holds 107 bytes, and the name ".s.PGSQL.<port>" comes on top


def _as_root() -> bool:
    return os.geteuid() == 0


def _key(cfg: StackConfig) -> str:
    return hashlib.sha256(str(cfg.state_dir.resolve()).encode()).hexdigest()[:10]


def _traversable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents] if p.exists())


def pg_root(cfg: StackConfig) -> Path:
    """`<state>/postgres`, unless the postgres user could not reach it (then a system folder)."""
    if not _elsewhere(cfg):
        return cfg.state_dir / "postgres"
    return Path("/var/lib/postgresql") / f"devstack-{_key(cfg)}"


def _elsewhere(cfg: StackConfig) -> bool:
    """True when the server runs as `postgres` and could not enter the state folder."""
    return _as_root() and not _traversable_by_others(cfg.state_dir)


def log_file(cfg: StackConfig) -> Path:
    """Where the server writes its log: `<state>/logs/postgres.log`, or next to its data
    when that is elsewhere (the postgres user could not write into the state folder)."""
    return pg_root(cfg) / "postgres.log" if _elsewhere(cfg) else cfg.log_file(NAME)


def wipe(cfg: StackConfig) -> None:
    """Remove the data folder (the server must be stopped): the next start is a fresh one."""
    shutil.rmtree(pg_root(cfg), ignore_errors=True)
    if socket_dir(cfg) != pg_root(cfg) / "run":
        shutil.rmtree(socket_dir(cfg), ignore_errors=True)


def data_dir(cfg: StackConfig) -> Path:
    return pg_root(cfg) / "data"


def socket_dir(cfg: StackConfig) -> Path:
    run = pg_root(cfg) / "run"
    if len(str(run)) <= _SOCKET_PATH_MAX:
        return run
    return Path("/tmp") / f"devstack-pg-{_key(cfg)}"


def _pg(*argv: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if _as_root() else list(argv)


def _own(path: Path) -> None:
    if _as_root():
        shutil.chown(path, "postgres", "postgres")


def _prepare(cfg: StackConfig) -> None:
    for folder in (pg_root(cfg), socket_dir(cfg)):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)
        _own(folder)
    log = log_file(cfg)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    _own(log)
    if log != cfg.log_file(NAME):  # the usual place shows it too
        cfg.logs_dir.mkdir(parents=True, exist_ok=True)
        cfg.log_file(NAME).unlink(missing_ok=True)
        cfg.log_file(NAME).symlink_to(log)
    data = data_dir(cfg)
    if not (data / "PG_VERSION").exists():
        procs.run(
            _pg(
                str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
                "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256",
            ),
            what="initdb",
        )  # fmt: skip
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'devstack.conf'\n")
    ensure_certificate(cfg)
    settings = data / "devstack.conf"
    settings.write_text(
        "# written by devstack at every start\n"
        "listen_addresses = '127.0.0.1'\n"
        f"port = {cfg.postgres_port}\n"
        f"unix_socket_directories = '{socket_dir(cfg)}'\n"
        "shared_buffers = 64MB\n"
        "max_connections = 200\n"
        "log_min_messages = warning\n"
        "log_line_prefix = '%m [%p] %q%u@%d '\n"
        # TLS for whoever asks (sslmode=verify-full&sslrootcert=<ca_file>); plain TCP still
        # works, as the other clients of the dev stack use it.
        "ssl = on\n"
        f"ssl_cert_file = '{_SERVER_CERT}'\n"
        f"ssl_key_file = '{_SERVER_KEY}'\n"
    )
    _own(settings)


_SERVER_CERT, _SERVER_KEY = "devstack-server.crt", "devstack-server.key"


def ca_file(cfg: StackConfig) -> Path:
    """The certificate clients verify the server with (it is self-signed: its own root)."""
    return cfg.state_dir / "postgres-ca.pem"


def ensure_certificate(cfg: StackConfig) -> None:
    """A self-signed certificate for 127.0.0.1 in the data folder (openssl, made once per
    state folder), its key readable only by the server's user, and a copy of the certificate
    at `ca_file` for clients. Development only: the key is not encrypted."""
    data = data_dir(cfg)
    cert, key = data / _SERVER_CERT, data / _SERVER_KEY
    if not (cert.exists() and key.exists()):
        procs.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-subj", "/CN=devstack PostgreSQL",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-keyout", str(key), "-out", str(cert)],
            what="making the devstack PostgreSQL certificate",
        )  # fmt: skip
        key.chmod(0o600)  # PostgreSQL refuses a key others can read
        _own(key)
        _own(cert)
    ca_file(cfg).write_bytes(cert.read_bytes())


def running_pid(cfg: StackConfig) -> int | None:
    """The postmaster's pid when this stack's PostgreSQL runs."""
    try:
        pid = int((data_dir(cfg) / "postmaster.pid").read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return pid if b"postgres" in cmdline and procs.is_alive(pid) else None


def start_postgres(cfg: StackConfig) -> int:
    """Start PostgreSQL unless it runs, and wait until the application role can connect.

    Returns the postmaster's pid."""
    pid = _start_server(cfg)
    wait_ready(cfg)
    return pid


def _start_server(cfg: StackConfig) -> int:
    pid = running_pid(cfg)
    if pid is None:
        procs.ensure_port_free(cfg.postgres_port, "PostgreSQL")
        _prepare(cfg)
        procs.run(
            _pg(
                str(PG_BIN / "pg_ctl"), "-D", str(data_dir(cfg)), "-l", str(log_file(cfg)),
                "-w", "-t", "60", "start",
            ),
            what="pg_ctl start",
            timeout=90,
            start_new_session=True,  # keep the server out of the caller's terminal job
            env={**os.environ, **procs.owner_env(cfg)},  # `down` knows it by this
        )  # fmt: skip
        pid = running_pid(cfg)
        if pid is None:
            raise StackError("PostgreSQL did not start; see " + str(log_file(cfg)))
    return pid


def stop_postgres(cfg: StackConfig) -> None:
    """`pg_ctl stop -m fast`; SIGKILL the postmaster if that fails. A no-op when stopped."""
    pid = running_pid(cfg)
    if pid is None:
        return
    try:
        procs.run(
            _pg(str(PG_BIN / "pg_ctl"), "-D", str(data_dir(cfg)), "-m", "fast", "-w", "stop"),
            what="pg_ctl stop",
            timeout=90,
        )
    except StackError:
        pgid = os.getpgid(pid)  # pg_ctl ran in a session of its own: pg's children share it
        if pgid != os.getpgrp():
            procs.terminate_groups([pgid], timeout=5)


def crash(cfg: StackConfig) -> None:
    """`pg_ctl stop -m immediate`: the server quits at once, as in a crash (no checkpoint;
    the next start recovers from the WAL). For fault injection."""
    if running_pid(cfg) is None:
        raise StackError("PostgreSQL does not run")
    procs.run(
        _pg(str(PG_BIN / "pg_ctl"), "-D", str(data_dir(cfg)), "-m", "immediate", "-w", "stop"),
        what="pg_ctl stop -m immediate",
        timeout=60,
    )


def restart_postgres(cfg: StackConfig) -> None:
    """Stop then start PostgreSQL, and wait until the application role can connect."""
    stop_postgres(cfg)
    start_postgres(cfg)


async def _bootstrap(cfg: StackConfig) -> None:
    import asyncpg

    su = await asyncpg.connect(
        host=str(socket_dir(cfg)), port=cfg.postgres_port, user="postgres", database="postgres"
    )
    try:
        if not await su.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", PG_USER):
            await su.execute(f"CREATE ROLE {PG_USER} LOGIN CREATEDB PASSWORD '{PG_PASSWORD}'")
        if not await su.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", PG_DATABASE):
            await su.execute(f"CREATE DATABASE {PG_DATABASE} OWNER {PG_USER}")
    finally:
        await su.close()
    conn = await asyncpg.connect(cfg.database_url)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


def wait_ready(cfg: StackConfig, timeout: float = 60.0) -> None:
    """Ready when the role and database exist and asyncpg connects with DATABASE_URL."""

    def check() -> bool:
        procs.run_coro(lambda: asyncio.wait_for(_bootstrap(cfg), 15))
        return True

    procs.wait_until(
        check, timeout=timeout, what="PostgreSQL", log=cfg.log_file(NAME), interval=0.3
    )


def up(cfg: StackConfig) -> None:
    start_postgres(cfg)
