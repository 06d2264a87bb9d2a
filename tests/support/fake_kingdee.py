"""A local fake of Kingdee K3Cloud's WebAPI (``vendor-protocols.md`` §3.1): login by app secret with a
session cookie, Save of bills (bill numbers unique, as the ERP enforces), ExecuteBillQuery by bill
number, sessions that get lost (MsgCode 1), the call limit (MsgCode 14), garbled replies."""

from __future__ import annotations

import json
import secrets
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler
from typing import Any

from .fake_http import LocalServer


def _status(ok: bool, code: int = 0, errors: list[str] | None = None, **result: Any) -> dict[str, Any]:
    return {
        "Result": {
            "ResponseStatus": {
                "ErrorCode": 0 if ok else 500,
                "IsSuccess": ok,
                "MsgCode": code,
                "Errors": [{"FieldName": "", "Message": m, "DIndex": 0} for m in errors or []],
                "SuccessEntitys": [],
                "SuccessMessages": [],
            },
            **result,
        }
    }


class FakeK3Cloud(LocalServer):
    def __init__(self, acct_id: str, username: str, app_id: str, app_secret: str) -> None:
        self.acct_id, self.username, self.app_id, self.app_secret = acct_id, username, app_id, app_secret
        self.sessions: set[str] = set()
        self.logins = 0
        self.bills: dict[str, dict[str, Any]] = {}
        self.saves = 0
        self.next_msg_codes: list[int] = []
        self.garble_next = False
        self.drop_answer_next = False  # save it, then fail to answer (the ERP has it; we never hear)
        super().__init__()

    @property
    def url(self) -> str:
        return f"{super().url}/k3cloud/"

    def respond(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, Any, str]:
        cookie = SimpleCookie((request.headers.get("Cookie") or "").replace(";", "; "))
        session = cookie["kdservice-sessionid"].value if "kdservice-sessionid" in cookie else ""
        if not session and self.signed_headers_valid(dict(request.headers)):
            session = self.SIGNED  # the official SDK's stateless signed headers, checked
        status, reply = self.handle(request.path, json.loads(body or b"{}"), session)
        return status, reply, "application/json"

    SIGNED = "signed-headers"

    def signed_headers_valid(self, headers: dict[str, str]) -> bool:
        """X-Kd-Signature = base64 of the hex HMAC-SHA256 (key: app secret) of app id + app data, and the
        app data (base64 "acct,user,lcid,org") naming this data centre and user."""
        import base64
        import hashlib
        import hmac

        app_key, app_data_b64, signature = (
            headers.get(h, "") for h in ("X-Kd-Appkey", "X-Kd-Appdata", "X-Kd-Signature")
        )
        if not (app_key and app_data_b64 and signature) or app_key != self.app_id:
            return False
        try:
            app_data = base64.b64decode(app_data_b64).decode()
        except ValueError:
            return False
        acct, user, *_rest = app_data.split(",")
        digest = hmac.new(self.app_secret.encode(), (app_key + app_data).encode(), hashlib.sha256).hexdigest()
        expected = base64.b64encode(digest.encode()).decode()
        return hmac.compare_digest(expected, signature) and (acct, user) == (self.acct_id, self.username)

    def lose_sessions(self) -> None:
        self.sessions.clear()

    def handle(self, path: str, body: dict[str, Any], session: str) -> tuple[int, Any]:
        if self.garble_next:
            self.garble_next = False
            return 200, b"<html>IIS error</html>"
        if path.endswith("AuthService.LoginByAppSecret.common.kdsvc"):
            self.logins += 1
            good = (body.get("acctID"), body.get("username"), body.get("appId"), body.get("appSecret")) == (
                self.acct_id,
                self.username,
                self.app_id,
                self.app_secret,
            )
            if not good:
                return 200, {"Message": "用户名或应用密钥错误", "LoginResultType": 0, "Context": None}
            token = secrets.token_hex(12)
            self.sessions.add(token)
            return 200, {
                "Message": None,
                "LoginResultType": 1,
                "KDSVCSessionId": token,
                "Context": {"SessionId": token, "UserName": self.username},
                "IsSuccessByAPI": True,
            }
        if session != self.SIGNED and session not in self.sessions:
            return 200, _status(False, 1, ["会话信息已丢失，请重新登录"])
        if self.next_msg_codes:
            return 200, _status(False, self.next_msg_codes.pop(0), ["调用限制"])
        raw = body.get("data") or body.get("parameters") or "{}"
        if isinstance(raw, list):  # the classic envelope: ["FORMID", "{...}"]
            body = {**body, "formid": raw[0] if raw else ""}
            raw = raw[1] if len(raw) > 1 else "{}"
        data = json.loads(raw) if isinstance(raw, str) else raw
        if path.endswith("DynamicFormService.Save.common.kdsvc"):
            model = data.get("Model") or {}
            bill_no = model.get("FBillNo")
            missing = [k for k in ("FDATE", "FCONTACTUNIT", "FSETTLEORGID") if not model.get(k)]
            if missing:
                return 200, _status(False, 11, [f"字段 {k} 必录" for k in missing])
            if bill_no in self.bills:
                return 200, _status(False, 11, [f"单据编号 {bill_no} 重复"])
            self.saves += 1
            bill_id = 100000 + len(self.bills)
            self.bills[bill_no] = {"form": body.get("formid"), "id": bill_id, "model": model}
            if self.drop_answer_next:
                self.drop_answer_next = False
                return 502, b"bad gateway"
            return 200, _status(True, 0, [], Id=bill_id, Number=bill_no)
        if path.endswith("DynamicFormService.ExecuteBillQuery.common.kdsvc"):
            wanted = (data.get("FilterString") or "").split("'")[1] if "'" in (data.get("FilterString") or "") else ""
            bill = self.bills.get(wanted)
            return 200, [[bill["id"], wanted]] if bill else []
        return 404, {"Message": "no such service"}
