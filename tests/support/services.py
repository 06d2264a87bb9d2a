"""Services of a test's own: a Redis it can kill and restart empty, and pointing Celery at it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from huiyuan.embedded import free_port, port_open, redis_binary


class PrivateRedis:
    """A Redis of the test's own that keeps nothing on disk, so a restart loses every message."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            assert time.monotonic() < deadline, "private Redis did not start"
            time.sleep(0.02)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def use_broker(url: str) -> None:
    """Point the Celery app of this process at another broker (its connection pools start over)."""
    from huiyuan.platform.celery import app

    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None
