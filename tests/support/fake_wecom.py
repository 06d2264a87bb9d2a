"""A local fake of WeCom's server API (``vendor-protocols.md`` §1): tokens that expire (or are
revoked early), app messages, customer tags, HTTP 200 with ``errcode`` for every business error,
frequency limits, and a garbled reply on request."""

from __future__ import annotations

import json
import secrets
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .fake_http import LocalServer


class FakeWeCom(LocalServer):
    def __init__(self, corp_id: str, secret: str, *, agent_id: int = 1000002) -> None:
        self.corp_id, self.secret, self.agent_id = corp_id, secret, agent_id
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.sent: list[dict[str, Any]] = []
        self.tags: list[dict[str, Any]] = []
        self.next_errors: list[int] = []
        self.garble_next = False
        self.known_users = {"zhangsan", "lisi", "wangwu"}
        self.customers: dict[str, dict[str, Any]] = {}  # external_userid → externalcontact/get answer
        super().__init__()

    def respond(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, Any, str]:
        return 200, self.handle(request.command, request.path, body), "application/json; charset=UTF-8"

    def expire_tokens(self) -> None:
        """WeCom may invalidate a token before its time."""
        self.tokens.clear()

    def handle(self, method: str, path: str, body: bytes) -> Any:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if self.garble_next:
            self.garble_next = False
            return b"<html>gateway timeout</html>"
        if parts.path == "/cgi-bin/gettoken":
            self.token_requests += 1
            if query.get("corpid") != self.corp_id:
                return {"errcode": 40013, "errmsg": "invalid corpid"}
            if query.get("corpsecret") != self.secret:
                return {"errcode": 40001, "errmsg": "invalid credential, hint: [1667] rid: fake"}
            token = secrets.token_hex(16)
            self.tokens.add(token)
            return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}
        token = query.get("access_token")
        if not token:
            return {"errcode": 41001, "errmsg": "access_token missing"}
        if token not in self.tokens:
            return {"errcode": 42001, "errmsg": "access_token expired"}
        if self.next_errors:
            return {"errcode": self.next_errors.pop(0), "errmsg": "fake error"}
        data = json.loads(body or b"{}")
        if parts.path == "/cgi-bin/message/send":
            if data.get("agentid") != self.agent_id:
                return {"errcode": 40056, "errmsg": "invalid agentid"}
            users = [u for u in str(data.get("touser", "")).split("|") if u]
            valid = [u for u in users if u.lower() in self.known_users]
            if not valid:
                return {"errcode": 81013, "errmsg": "user & party & tag all invalid"}
            self.sent.append({**data, "delivered_to": valid})
            invalid = "|".join(u.lower() for u in users if u not in valid)
            return {"errcode": 0, "errmsg": "ok", "invaliduser": invalid, "msgid": f"msg{len(self.sent)}"}
        if parts.path == "/cgi-bin/externalcontact/get":
            customer = self.customers.get(query.get("external_userid", ""))
            if customer is None:
                return {"errcode": 84061, "errmsg": "not external contact"}
            return {"errcode": 0, "errmsg": "ok", **customer}
        if parts.path == "/cgi-bin/externalcontact/mark_tag":
            if not data.get("add_tag") and not data.get("remove_tag"):
                return {"errcode": 40068, "errmsg": "invalid tagid"}
            self.tags.append(data)
            return {"errcode": 0, "errmsg": "ok"}
        return {"errcode": 60011, "errmsg": "no privilege to access/modify contact/party/agent"}
