"""DingTalk (钉钉): a thin httpx client (``vendor-protocols.md`` §2; the official SDK is 88 MB, covers
only the v1.0 APIs and lacks the classic work notification). Work notifications to staff (oapi),
to-dos for care tasks (api v1.0), the group robot's signed webhook, and the callback's keys.
Both token kinds are shared by every worker and fetched again once when DingTalk refuses them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote_plus

import httpx
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..registry import (
    STAFF_NOTIFIER,
    STAFF_TASKS,
    Field,
    Provider,
    TokenExpired,
    VendorRefused,
    VendorThrottled,
    VendorUnavailable,
    explained,
    register_provider,
)
from ..tokens import token_forget, token_get

OAPI_TOKEN_ERRORS = {"40014", "42001"}
PLAIN = {
    40089: _("The AppKey or AppSecret is wrong."),
    310000: _("The robot refused the message: wrong signing secret, clock off, or keywords missing."),
    300005: _("The robot's webhook token does not exist (the robot was removed?)."),
}


@register_provider
class DingTalk(Provider):
    key = "dingtalk"
    label = _("DingTalk (钉钉)")
    capabilities = frozenset({STAFF_NOTIFIER, STAFF_TASKS})
    credential_fields = (
        Field("app_secret", _("AppSecret"), secret=True),
        Field("robot_secret", _("Group robot signing secret (SEC…)"), secret=True, required=False),
        Field("callback_token", _("Callback Token"), secret=True, required=False),
        Field("callback_aes_key", _("Callback aes_key"), secret=True, required=False),
    )
    setting_fields = (
        Field("app_key", _("AppKey")),
        Field("agent_id", _("AgentId of the app")),
        Field("robot_token", _("Group robot access_token"), required=False),
        Field("oapi", _("oapi address"), required=False, default="https://oapi.dingtalk.com"),
        Field("api", _("api address"), required=False, default="https://api.dingtalk.com"),
    )
    rate_per_second = 20.0

    def _get_json(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 500:
            raise VendorUnavailable(f"HTTP {response.status_code}", code=f"HTTP{response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise VendorUnavailable(
                gettext("DingTalk answered something that is not JSON."), code="UNREADABLE_REPLY"
            ) from exc
        if not isinstance(body, dict):
            raise VendorUnavailable(gettext("DingTalk answered something that is not JSON."), code="UNREADABLE_REPLY")
        return body

    def _send(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return self._get_json(httpx.request(method, url, timeout=10.0, **kwargs))
        except httpx.HTTPError as exc:
            raise VendorUnavailable(f"{type(exc).__name__}: {exc}", code="UNREACHABLE") from exc

    # ---- oapi (classic): token in the query, errcode in HTTP 200 ------------------------------------
    @property
    def oapi(self) -> str:
        return (self.settings.get("oapi") or "https://oapi.dingtalk.com").rstrip("/")

    def _oapi_token(self) -> str:
        def fetch() -> tuple[str, int]:
            body = self._send(
                "GET",
                f"{self.oapi}/gettoken",
                params={"appkey": self.settings["app_key"], "appsecret": self.credentials["app_secret"]},
            )
            _check_oapi(body, token_call=True)
            return str(body["access_token"]), int(body.get("expires_in") or 7200)

        return token_get(f"dingtalk:oapi:{self.settings['app_key']}", fetch)

    def _oapi(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        for attempt in (1, 2):
            body = self._send("POST", f"{self.oapi}{path}", params={"access_token": self._oapi_token()}, json=payload)
            try:
                _check_oapi(body, token_call=False)
                return body
            except TokenExpired:
                token_forget(f"dingtalk:oapi:{self.settings['app_key']}")
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def send_card(self, *, to: list[str], title: str, description: str, url: str, button: str = "") -> str:
        """A work notification (工作通知) as an action card linking back to the console."""
        payload = {
            "agent_id": int(self.settings["agent_id"]),
            "userid_list": ",".join(to[:5000]),
            "msg": {
                "msgtype": "action_card",
                "action_card": {
                    "title": title[:64],
                    "markdown": f"### {title}\n\n{description}",
                    "single_title": button or title[:20],
                    "single_url": url,
                },
            },
        }
        return str(self._oapi("/topapi/message/corpconversation/asyncsend_v2", payload).get("task_id", ""))

    def send_text(self, *, to: list[str], content: str) -> str:
        payload = {
            "agent_id": int(self.settings["agent_id"]),
            "userid_list": ",".join(to[:5000]),
            "msg": {"msgtype": "text", "text": {"content": content}},
        }
        return str(self._oapi("/topapi/message/corpconversation/asyncsend_v2", payload).get("task_id", ""))

    # ---- group robot (custom robot webhook, HMAC-signed) ---------------------------------------------
    def robot_send(self, *, markdown_title: str, markdown: str, at_mobiles: list[str] | None = None) -> None:
        secret = self.credentials.get("robot_secret") or ""
        stamp = str(int(time.time() * 1000))
        sign = quote_plus(
            base64.b64encode(hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()).decode()
        )
        body = self._send(
            "POST",
            f"{self.oapi}/robot/send",
            params={"access_token": self.settings.get("robot_token", ""), "timestamp": stamp, "sign": sign},
            json={
                "msgtype": "markdown",
                "markdown": {"title": markdown_title, "text": markdown},
                "at": {"atMobiles": at_mobiles or [], "isAtAll": False},
            },
        )
        _check_oapi(body, token_call=True)

    # ---- api v1.0: token in a header, errors as HTTP 4xx {code, message} ------------------------------
    @property
    def api(self) -> str:
        return (self.settings.get("api") or "https://api.dingtalk.com").rstrip("/")

    def _api_token(self) -> str:
        def fetch() -> tuple[str, int]:
            body = self._send(
                "POST",
                f"{self.api}/v1.0/oauth2/accessToken",
                json={"appKey": self.settings["app_key"], "appSecret": self.credentials["app_secret"]},
            )
            if "accessToken" not in body:
                raise VendorRefused(str(PLAIN[40089]) + f" ({body.get('message', '')})", code=str(body.get("code", "")))
            return str(body["accessToken"]), int(body.get("expireIn") or 7200)

        return token_get(f"dingtalk:api:{self.settings['app_key']}", fetch)

    def create_todo(
        self, *, union_id: str, source_id: str, subject: str, description: str, url: str, due_ms: int | None
    ) -> str:
        payload = {
            "sourceId": source_id,
            "subject": subject[:1024],
            "description": description[:4096],
            "executorIds": [union_id],
            "detailUrl": {"appUrl": url, "pcUrl": url},
            "priority": 20,
        }
        if due_ms:
            payload["dueTime"] = due_ms
        for attempt in (1, 2):
            response = httpx.post(
                f"{self.api}/v1.0/todo/users/{union_id}/tasks",
                params={"operatorId": union_id},
                headers={"x-acs-dingtalk-access-token": self._api_token()},
                json=payload,
                timeout=10.0,
            )
            body = self._get_json(response)
            if response.status_code < 400:
                return str(body.get("id", ""))
            code = str(body.get("code", ""))
            if code == "InvalidAuthentication" and attempt == 1:
                token_forget(f"dingtalk:api:{self.settings['app_key']}")
                continue
            message = str(body.get("message", ""))
            if "task exist" in message:
                return f"exists:{source_id}"  # our sourceId is the key: the to-do is already there
            if "flowControl" in code or "QpsLimit" in code:
                raise VendorThrottled(message, code=code)
            raise VendorRefused(message or code, code=code)
        raise AssertionError("unreachable")

    def test(self) -> str:
        token_forget(f"dingtalk:oapi:{self.settings['app_key']}")
        self._oapi_token()
        return gettext("Connected to DingTalk: the app's token was issued.")


def _check_oapi(body: dict[str, Any], *, token_call: bool) -> None:
    code = int(body.get("errcode") or 0)
    if not code:
        return
    message = str(body.get("errmsg", ""))
    if not token_call and (code in (40014, 42001) or (code == 88 and str(body.get("sub_code")) in OAPI_TOKEN_ERRORS)):
        raise TokenExpired(message, code=str(code))
    if code in (660026, 90018, 90002, 45009):
        raise VendorThrottled(message, code=str(code))
    if code == -1:
        raise VendorUnavailable(message, code=str(code))
    raise VendorRefused(explained(PLAIN, code, message), code=str(code))
