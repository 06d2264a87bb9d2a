"""The HTTP plumbing every local vendor fake shares: a threaded server on 127.0.0.1 that hands each
GET or POST to the fake's ``respond`` and writes its answer (JSON unless bytes are given)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LocalServer:
    content_type = "application/json"

    def __init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, payload, content_type = server.respond(self, self.rfile.read(length) if length else b"")
                data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type or server.content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def start(self) -> LocalServer:
        return self  # serving since it was made; kept so a fake reads ``Fake(...).start()``

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def respond(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, Any, str]:
        raise NotImplementedError
