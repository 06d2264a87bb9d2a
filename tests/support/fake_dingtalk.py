"""A local fake of DingTalk (``vendor-protocols.md`` §2): classic oapi (gettoken, work notifications,
errcode in HTTP 200, errcode 88 / sub_code 40014 for a bad token), the group robot's signed webhook
(timestamp window, signature, 20 per minute), and v1.0 api (oauth2 token, to-dos, HTTP 400 errors,
duplicate sourceId → "task exist")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

from .fake_http import LocalServer


class FakeDingTalk(LocalServer):
    def __init__(
        self,
        app_key: str,
        app_secret: str,
        *,
        agent_id: int = 2000001,
        robot_token: str = "robot-token",
        robot_secret: str = "SECfake",
    ) -> None:
        self.app_key, self.app_secret, self.agent_id = app_key, app_secret, agent_id
        self.robot_token, self.robot_secret = robot_token, robot_secret
        self.oapi_tokens: set[str] = set()
        self.api_tokens: set[str] = set()
        self.notices: list[dict[str, Any]] = []
        self.robot_messages: list[dict[str, Any]] = []
        self.todos: dict[str, dict[str, Any]] = {}
        self.robot_window: list[float] = []
        super().__init__()

    def respond(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, Any, str]:
        status, reply = self.handle(request.command, request.path, dict(request.headers), body)
        return status, reply, "application/json"

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        data = json.loads(body or b"{}")
        if parts.path == "/gettoken":
            if (query.get("appkey"), query.get("appsecret")) != (self.app_key, self.app_secret):
                return 200, {"errcode": 40089, "errmsg": "不合法的corpid或corpsecret"}
            token = secrets.token_hex(8)
            self.oapi_tokens.add(token)
            return 200, {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}
        if parts.path == "/topapi/message/corpconversation/asyncsend_v2":
            if query.get("access_token") not in self.oapi_tokens:
                return 200, {
                    "errcode": 88,
                    "sub_code": "40014",
                    "sub_msg": "不合法的access_token",
                    "errmsg": "ding talk error",
                }
            if data.get("agent_id") != self.agent_id:
                return 200, {"errcode": 400002, "errmsg": "agent_id invalid"}
            self.notices.append(data)
            return 200, {"errcode": 0, "errmsg": "ok", "task_id": 256271667526 + len(self.notices)}
        if parts.path == "/robot/send":
            if query.get("access_token") != self.robot_token:
                return 200, {"errcode": 300005, "errmsg": "token is not exist"}
            stamp = query.get("timestamp", "0")
            expected = quote_plus(
                base64.b64encode(
                    hmac.new(
                        self.robot_secret.encode(), f"{stamp}\n{self.robot_secret}".encode(), hashlib.sha256
                    ).digest()
                ).decode()
            )
            if abs(time.time() * 1000 - int(stamp)) > 3_600_000:
                return 200, {"errcode": 310000, "errmsg": "invalid timestamp"}
            if query.get("sign") != expected and quote_plus(query.get("sign", "")) != expected:
                return 200, {"errcode": 310000, "errmsg": "sign not match"}
            now = time.time()
            self.robot_window = [t for t in self.robot_window if now - t < 60] + [now]
            if len(self.robot_window) > 20:
                return 200, {"errcode": 660026, "errmsg": "sending too many messages per minute"}
            self.robot_messages.append(data)
            return 200, {"errcode": 0, "errmsg": "ok"}
        if parts.path == "/v1.0/oauth2/accessToken":
            if (data.get("appKey"), data.get("appSecret")) != (self.app_key, self.app_secret):
                return 400, {"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"}
            token = secrets.token_hex(8)
            self.api_tokens.add(token)
            return 200, {"accessToken": token, "expireIn": 7200}
        if parts.path.startswith("/v1.0/todo/users/") and parts.path.endswith("/tasks"):
            if headers.get("x-acs-dingtalk-access-token") not in self.api_tokens:
                return 400, {"code": "InvalidAuthentication", "requestid": "r", "message": "不合法的access_token"}
            if data.get("sourceId") in self.todos:
                return 400, {"code": "todo.taskCreate.paramError", "message": "task exist"}
            task_id = f"task{len(self.todos) + 1}"
            self.todos[data["sourceId"]] = {**data, "id": task_id}
            return 200, {"id": task_id, "subject": data.get("subject"), "sourceId": data.get("sourceId"), "done": False}
        return 404, {"errcode": 22, "errmsg": "不合法ApiName"}
