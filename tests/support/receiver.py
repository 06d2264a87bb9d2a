"""A merchant's webhook receiver on 127.0.0.1: records what arrives, answers what it is told to."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any

from .fake_http import LocalServer


class Receiver(LocalServer):
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []  # answers to give, in order; then 200
        super().__init__()

    def respond(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, Any, str]:
        self.received.append({"headers": dict(request.headers), "body": body})
        return (self.statuses.pop(0) if self.statuses else 200), b"ok", "text/plain"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/huiyuan"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
