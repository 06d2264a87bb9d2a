"""``huiyuan`` command: ``up`` runs the whole platform on one machine, ``test`` runs the tests.

Both start an embedded PostgreSQL and Redis when ``DATABASE_URL`` / ``REDIS_URL`` are not set
(see ``huiyuan/embedded.py``), and stop what they started on exit.
"""

from __future__ import annotations

import argparse
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
    children: list[subprocess.Popen[bytes]] = []

    def shutdown(*_: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
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
        beat_schedule = services.root / "celerybeat-schedule"
        services.root.mkdir(parents=True, exist_ok=True)
        python = sys.executable
        children.append(
            subprocess.Popen(  # noqa: S603
                [
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
                ]
            )
        )
        children.append(
            subprocess.Popen(  # noqa: S603
                [python, "-m", "celery", "-A", "huiyuan", "worker", "--loglevel", "warning", "--concurrency", "2"]
            )
        )
        children.append(
            subprocess.Popen(  # noqa: S603
                [
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
                ]
            )
        )
        _print_banner(port)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        failed = next(child for child in children if child.poll() is not None)
        log(f"a process exited ({failed.args!r}); stopping everything")
        return 1
    except KeyboardInterrupt:
        log("stopping")
        return 0
    finally:
        shutdown()


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
    services = EmbeddedServices()
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
