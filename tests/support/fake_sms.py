"""Local fakes of the Aliyun and Tencent Cloud SMS APIs (``vendor-protocols.md`` §4): HTTP servers on
127.0.0.1 that verify the vendors' request signatures (written here from the protocol, not taken
from the SDKs, so the SDK-signed requests check both), answer as the vendors do, business errors
in HTTP 200 included, and take knobs: the next error, a rate limit, a slow reply, a garbled reply."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from .fake_http import LocalServer


def _pe(text: str) -> str:
    return quote(text, safe="~")


class FakeVendor(LocalServer):
    """Shared plumbing: a threaded server, recorded sends, error / delay / rate-limit knobs."""

    def __init__(self, key_id: str, secret: str) -> None:
        self.key_id, self.secret = key_id, secret
        self.sent: list[dict[str, Any]] = []
        self.requests = 0
        self.next_errors: list[str] = []
        self.garble_next = False
        self.delay = 0.0
        self.rate_per_second: int | None = None
        self._window: tuple[int, int] = (0, 0)
        self._lock = threading.Lock()
        super().__init__()

    def over_limit(self) -> bool:
        if self.rate_per_second is None:
            return False
        with self._lock:
            second = int(time.time())
            start, count = self._window
            count = count + 1 if start == second else 1
            self._window = (second, count)
            return count > self.rate_per_second

    def respond(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, Any, str]:
        return self.handle(request, body)

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, Any, str]:
        raise NotImplementedError


class FakeAliyunSms(FakeVendor):
    """dysmsapi 2017-05-25 over ACS3-HMAC-SHA256."""

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, Any, str]:
        self.requests += 1
        request_id = str(uuid.uuid4()).upper()
        problem = self.verify(request, body)
        if problem:
            return (
                400,
                {
                    "Code": problem,
                    "Message": f"Specified signature is not matched ({problem}).",
                    "RequestId": request_id,
                },
                "application/json",
            )
        if self.delay:
            time.sleep(self.delay)
        if self.garble_next:
            self.garble_next = False
            return 200, b"<html>502 Bad Gateway</html>", "text/html"
        query = dict(parse_qsl(urlsplit(request.path).query, keep_blank_values=True))
        action = request.headers.get("x-acs-action")
        if self.next_errors:
            code = self.next_errors.pop(0)
            return 200, {"Code": code, "Message": f"fake error {code}", "RequestId": request_id}, "application/json"
        if action == "QuerySmsSign":
            return (
                200,
                {
                    "Code": "OK",
                    "Message": "OK",
                    "SignName": query.get("SignName"),
                    "SignStatus": 1,
                    "RequestId": request_id,
                },
                "application/json",
            )
        if action != "SendSms":
            return (
                404,
                {"Code": "InvalidAction.NotFound", "Message": action, "RequestId": request_id},
                "application/json",
            )
        if self.over_limit():
            return (
                200,
                {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发流控", "RequestId": request_id},
                "application/json",
            )
        try:
            params = json.loads(query.get("TemplateParam") or "{}")
        except json.JSONDecodeError:
            return (
                200,
                {"Code": "isv.INVALID_JSON_PARAM", "Message": "JSON参数不合法", "RequestId": request_id},
                "application/json",
            )
        biz_id = f"{len(self.sent) + 1}^0"
        self.sent.append(
            {
                "phone": query.get("PhoneNumbers"),
                "sign": query.get("SignName"),
                "template": query.get("TemplateCode"),
                "params": params,
                "out_id": query.get("OutId"),
                "biz_id": biz_id,
            }
        )
        return 200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": request_id}, "application/json"

    def verify(self, request: BaseHTTPRequestHandler, body: bytes) -> str:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("ACS3-HMAC-SHA256 "):
            return "IncompleteSignature"
        fields = dict(part.strip().split("=", 1) for part in auth[len("ACS3-HMAC-SHA256 ") :].split(","))
        if fields.get("Credential") != self.key_id:
            return "InvalidAccessKeyId.NotFound"
        if hashlib.sha256(body).hexdigest() != request.headers.get("x-acs-content-sha256"):
            return "SignatureDoesNotMatch"
        signed = fields.get("SignedHeaders", "").split(";")
        query = sorted(parse_qsl(urlsplit(request.path).query, keep_blank_values=True))
        canonical = "\n".join(
            [
                request.command,
                urlsplit(request.path).path or "/",
                "&".join(f"{_pe(k)}={_pe(v)}" for k, v in query),
                "".join(f"{h}:{(request.headers.get(h) or '').strip()}\n" for h in signed),
                ";".join(signed),
                request.headers.get("x-acs-content-sha256", ""),
            ]
        )
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        expected = hmac.new(self.secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        return "" if hmac.compare_digest(expected, fields.get("Signature", "")) else "SignatureDoesNotMatch"


class FakeTencentSms(FakeVendor):
    """sms 2021-01-11 over TC3-HMAC-SHA256."""

    def handle(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, Any, str]:
        self.requests += 1
        request_id = str(uuid.uuid4())
        problem = self.verify(request, body)
        if problem:
            return (
                200,
                {
                    "Response": {
                        "Error": {"Code": problem, "Message": "The provided credentials could not be validated."},
                        "RequestId": request_id,
                    }
                },
                "application/json",
            )
        if self.delay:
            time.sleep(self.delay)
        if self.garble_next:
            self.garble_next = False
            return 200, b"{not json", "application/json"
        action = request.headers.get("X-TC-Action")
        data = json.loads(body or b"{}")
        if action == "SmsPackagesStatistics":
            return (
                200,
                {
                    "Response": {
                        "SmsPackagesStatisticsSet": [
                            {"PackageAmount": 10000, "PackageType": 2, "PackageId": 1, "CurrentUsage": 1234}
                        ],
                        "RequestId": request_id,
                    }
                },
                "application/json",
            )
        if action != "SendSms":
            return (
                200,
                {"Response": {"Error": {"Code": "InvalidAction", "Message": action}, "RequestId": request_id}},
                "application/json",
            )
        if self.over_limit():
            return (
                200,
                {
                    "Response": {
                        "Error": {"Code": "RequestLimitExceeded", "Message": "请求频率超限"},
                        "RequestId": request_id,
                    }
                },
                "application/json",
            )
        phone = (data.get("PhoneNumberSet") or [""])[0]
        if self.next_errors:
            code = self.next_errors.pop(0)
            status = {
                "SerialNo": "",
                "PhoneNumber": phone,
                "Fee": 0,
                "SessionContext": data.get("SessionContext", ""),
                "Code": code,
                "Message": f"fake error {code}",
                "IsoCode": "CN",
            }
        else:
            serial = f"2019:{len(self.sent) + 1}"
            self.sent.append(
                {
                    "phone": phone,
                    "sign": data.get("SignName"),
                    "template": data.get("TemplateId"),
                    "params": data.get("TemplateParamSet"),
                    "app": data.get("SmsSdkAppId"),
                    "session": data.get("SessionContext"),
                    "serial": serial,
                }
            )
            status = {
                "SerialNo": serial,
                "PhoneNumber": phone,
                "Fee": 1,
                "SessionContext": data.get("SessionContext", ""),
                "Code": "Ok",
                "Message": "send success",
                "IsoCode": "CN",
            }
        return 200, {"Response": {"SendStatusSet": [status], "RequestId": request_id}}, "application/json"

    def verify(self, request: BaseHTTPRequestHandler, body: bytes) -> str:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("TC3-HMAC-SHA256 "):
            return "AuthFailure.InvalidAuthorization"
        fields = dict(part.strip().split("=", 1) for part in auth[len("TC3-HMAC-SHA256 ") :].split(","))
        secret_id, date, service, _terminator = fields.get("Credential", "///").split("/")
        if secret_id != self.key_id:
            return "AuthFailure.SecretIdNotFound"
        timestamp = request.headers.get("X-TC-Timestamp", "0")
        if abs(time.time() - int(timestamp)) > 300:
            return "AuthFailure.SignatureExpire"
        signed = fields.get("SignedHeaders", "").split(";")
        canonical_headers = "".join(f"{h}:{(request.headers.get(h) or '').strip().lower()}\n" for h in signed)
        canonical = "\n".join(["POST", "/", "", canonical_headers, ";".join(signed), hashlib.sha256(body).hexdigest()])
        scope = f"{date}/{service}/tc3_request"
        to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"

        def sign(key: bytes, msg: str) -> bytes:
            return hmac.new(key, msg.encode(), hashlib.sha256).digest()

        key = sign(sign(sign(("TC3" + self.secret).encode(), date), service), "tc3_request")
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return "" if hmac.compare_digest(expected, fields.get("Signature", "")) else "AuthFailure.SignatureFailure"
