"""A local fake of WeChat's mini program API (``vendor-protocols.md`` §5): login codes and phone codes
that work once, the stable access token, errcodes in HTTP 200."""

from __future__ import annotations

import json
import secrets
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .fake_http import LocalServer


class FakeWeChat(LocalServer):
    def __init__(self, app_id: str, secret: str) -> None:
        self.app_id, self.secret = app_id, secret
        self.login_codes: dict[str, str] = {}  # code → openid
        self.phone_codes: dict[str, str] = {}  # code → 11-digit phone
        self.tokens: set[str] = set()
        super().__init__()

    def respond(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, Any, str]:
        return 200, self.handle(request.path, json.loads(body or b"{}")), "application/json"

    def person(self, openid: str, phone: str) -> tuple[str, str]:
        """A person opening the mini program: a fresh login code and phone code."""
        login, phone_code = secrets.token_hex(8), secrets.token_hex(8)
        self.login_codes[login], self.phone_codes[phone_code] = openid, phone
        return login, phone_code

    def handle(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/sns/jscode2session":
            if query.get("appid") != self.app_id:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            if query.get("secret") != self.secret:
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            openid = self.login_codes.pop(query.get("js_code", ""), None)
            if openid is None:
                return {"errcode": 40029, "errmsg": "invalid code"}
            return {"openid": openid, "session_key": secrets.token_hex(8), "unionid": f"u-{openid}"}
        if parts.path == "/cgi-bin/stable_token":
            if (body.get("appid"), body.get("secret")) != (self.app_id, self.secret):
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            token = secrets.token_hex(8)
            self.tokens.add(token)
            return {"access_token": token, "expires_in": 7200}
        if parts.path == "/wxa/business/getuserphonenumber":
            if query.get("access_token") not in self.tokens:
                return {"errcode": 40001, "errmsg": "invalid credential"}
            phone = self.phone_codes.pop(body.get("code", ""), None)
            if phone is None:
                return {"errcode": 40029, "errmsg": "invalid code"}
            return {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {"phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86"},
            }
        return {"errcode": 40066, "errmsg": "invalid url"}
