"""``huiyuan`` command: ``up`` runs the whole platform on one machine, ``test`` runs the tests.

Both start an embedded PostgreSQL and Redis when ``DATABASE_URL`` / ``REDIS_URL`` are not set
(see ``huiyuan/embedded.py``), and stop what they started on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .embedded import ROOT, EmbeddedServices, log

DEMO_SUBDOMAIN = "demo"


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huiyuan.platform.settings")
    import django

    django.setup()


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True)  # noqa: S603


def cmd_up(options: argparse.Namespace) -> int:
    services = EmbeddedServices()
    children: dict[str, subprocess.Popen[bytes]] = {}

    def shutdown(*_: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        for child in children.values():
            _signal_group(child, signal.SIGTERM)
        for child in children.values():
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _signal_group(child, signal.SIGKILL)
                child.wait()
            _signal_group(child, signal.SIGKILL)  # anything of its group still alive (a gunicorn worker)
        services.stop()

    # Explicit handlers: a shell that starts us in the background ignores SIGINT otherwise.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        services.configure_environment()
        log("migrating (public schema, template, tenants) and filling the signup pool")
        _manage("setup_platform", "-v", "0")
        if not options.no_demo:
            _manage("seed_demo", "--members", str(options.members))
        bind = options.bind
        port = bind.rsplit(":", 1)[-1]
        os.environ.setdefault("HUIYUAN_PUBLIC_PORT", port)
        services.root.mkdir(parents=True, exist_ok=True)
        commands = _process_commands(options, bind, services.root / "celerybeat-schedule")
        for name, command in commands.items():
            children[name] = _spawn(command)
        _print_banner(port)
        restarts: dict[str, list[float]] = {name: [] for name in commands}
        while True:
            time.sleep(0.5)
            if children["web"].poll() is not None:
                log(f"the web server exited ({children['web'].returncode}); stopping everything")
                return 1
            for name in ("worker", "beat"):
                if children[name].poll() is None:
                    continue
                recent = [t for t in restarts[name] if time.monotonic() - t < 60][-4:]
                log(f"the Celery {name} exited ({children[name].returncode}); restarting it (web keeps serving)")
                if len(recent) >= 4:
                    log(f"the Celery {name} keeps exiting; waiting 30 s before the next try")
                    time.sleep(30)
                _signal_group(children[name], signal.SIGKILL)  # orphaned pool processes
                children[name] = _spawn(commands[name])
                restarts[name] = [*recent, time.monotonic()]
    except KeyboardInterrupt:
        log("stopping")
        return 0
    finally:
        shutdown()


def _process_commands(options: argparse.Namespace, bind: str, beat_schedule: Path) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "web": [
            python,
            "-m",
            "gunicorn",
            "huiyuan.platform.wsgi:application",
            "--bind",
            bind,
            "--workers",
            str(options.web_workers),
            "--threads",
            "4",
            "--access-logfile",
            "-",
            "--log-level",
            "warning",
        ],
        "worker": [python, "-m", "celery", "-A", "huiyuan", "worker", "--loglevel", "warning", "--concurrency", "2"],
        "beat": [
            python,
            "-m",
            "celery",
            "-A",
            "huiyuan",
            "beat",
            "--loglevel",
            "warning",
            "--schedule",
            str(beat_schedule),
        ],
    }


def _spawn(command: list[str]) -> subprocess.Popen[bytes]:
    # A process group of its own: stopping it stops its children too (gunicorn and Celery workers),
    # and a Ctrl-C in the terminal reaches only us, so we stop them in order.
    return subprocess.Popen(command, start_new_session=True)  # noqa: S603


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signum)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _print_banner(port: str) -> None:
    base = os.environ.get("HUIYUAN_BASE_DOMAIN", "localhost")
    print(
        f"""
  Huiyuan is running.
    Demo merchant console : http://{DEMO_SUBDOMAIN}.{base}:{port}/
    Public signup page    : http://{base}:{port}/
    API docs (demo)       : http://{DEMO_SUBDOMAIN}.{base}:{port}/api/docs
    Health                : http://{base}:{port}/health
  Demo logins (password {DEMO_PASSWORD_HINT}):
    owner 13800000000 · hq · manager_sh · manager_gz · marketing · service · cashier_sh
  Ctrl-C stops everything this command started.
""",
        flush=True,
    )


DEMO_PASSWORD_HINT = "Demo-2026"


def cmd_test(pytest_args: list[str]) -> int:
    # Services of the tests' own on free ports, removed afterwards: a running ``huiyuan up`` (or
    # anything else on the usual ports) is never touched.
    services = EmbeddedServices(private=True, throwaway=True)
    try:
        if not os.environ.get("REDIS_URL"):
            os.environ["REDIS_URL"] = services.start_redis().rsplit("/", 1)[0] + "/15"
        services.configure_environment()
        # Importing this package set DJANGO_SETTINGS_MODULE (the Celery app does); pytest-django
        # prefers the environment to pyproject.toml, so name the test settings explicitly.
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
        result = subprocess.run([sys.executable, "-m", "pytest", *pytest_args], cwd=ROOT, env=env)  # noqa: S603
        return result.returncode
    finally:
        services.stop()


def cmd_services(options: argparse.Namespace) -> int:
    """Start the embedded services and keep them running (for a shell with the exported URLs)."""
    services = EmbeddedServices()
    try:
        services.configure_environment()
        print(f"export DATABASE_URL={os.environ['DATABASE_URL']}", flush=True)
        print(f"export REDIS_URL={os.environ['REDIS_URL']}", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        services.stop()


def cmd_migrate(options: argparse.Namespace) -> int:
    """In-process (the container has no manage.py beside the package): exits 1 naming the schemas
    left behind; a re-run skips every schema already done."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huiyuan.platform.settings")
    import django
    from django.core.management import call_command
    from django.core.management.base import CommandError

    django.setup()
    try:
        call_command("migrate_tenants", processes=options.processes, schemas=options.schemas)
    except CommandError as exc:
        print(f"huiyuan migrate: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="huiyuan", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run web, worker and beat with a demo merchant")
    up.add_argument("--bind", default=os.environ.get("HUIYUAN_BIND", "127.0.0.1:8000"))
    up.add_argument("--members", type=int, default=3000, help="demo members to create on first run")
    up.add_argument("--no-demo", action="store_true", help="do not create the demo merchant")
    up.add_argument("--web-workers", type=int, default=2)
    up.set_defaults(func=cmd_up)
    sub.add_parser("test", help="run the test suite (every further argument goes to pytest)")
    migrate = sub.add_parser("migrate", help="migrate public, the template and every merchant in parallel")
    migrate.add_argument("--processes", type=int, default=int(os.environ.get("HUIYUAN_MIGRATE_PROCESSES", "4")))
    migrate.add_argument("--schema", action="append", dest="schemas", help="only these schemas (repeatable)")
    migrate.set_defaults(func=cmd_migrate)
    services = sub.add_parser("services", help="start embedded PostgreSQL and Redis and wait")
    services.set_defaults(func=cmd_services)
    argv = sys.argv[1:] if argv is None else argv
    os.chdir(Path(ROOT))
    if argv[:1] == ["test"]:
        return cmd_test(argv[1:])  # pytest's own options pass through untouched
    options = parser.parse_args(argv)
    return int(options.func(options))


if __name__ == "__main__":
    sys.exit(main())
