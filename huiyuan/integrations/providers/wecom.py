"""WeCom (企业微信) self-built app: a thin httpx client (``vendor-protocols.md`` §1; wechatpy's last
release is from 2021 and hard-codes the token URL). App messages to staff (text, text card,
markdown), tagging members who are WeCom customers, and the callback's keys. Tokens are shared by
every worker (``tokens.py``); an expired one is fetched again and the call made once more."""

from __future__ import annotations

from typing import Any

import httpx
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..registry import (
    STAFF_NOTIFIER,
    STAFF_TASKS,
    Field,
    Provider,
    TokenExpired,
    VendorError,
    VendorRefused,
    VendorThrottled,
    VendorUnavailable,
    explained,
    register_provider,
)
from ..tokens import token_forget, token_get

TOKEN_ERRORS = {40001, 40014, 42001}
THROTTLED = {45009, 45033, 45011}
BUSY = {-1}
PLAIN = {
    40001: _("The app Secret is wrong (or was reset in the WeCom admin)."),
    40013: _("The CorpID is wrong."),
    60020: _("This server's address is not in the app's trusted IPs (企业可信IP)."),
    81013: _("None of the recipients is a member this app may message."),
    48002: _("This app may not use that API (check its permissions in the WeCom admin)."),
    84061: _("This member is not the customer of that staff member on WeCom."),
}


@register_provider
class WeCom(Provider):
    key = "wecom"
    label = _("WeCom (企业微信)")
    capabilities = frozenset({STAFF_NOTIFIER, STAFF_TASKS})
    credential_fields = (
        Field("corp_secret", _("App Secret"), secret=True),
        Field("callback_token", _("Callback Token"), secret=True, required=False),
        Field("callback_aes_key", _("Callback EncodingAESKey"), secret=True, required=False),
    )
    setting_fields = (
        Field("corp_id", _("CorpID"), help=_("My company → Company information → CorpID")),
        Field("agent_id", _("AgentId of the app")),
        Field("endpoint", _("API address"), required=False, default="https://qyapi.weixin.qq.com"),
    )
    rate_per_second = 50.0

    @property
    def base(self) -> str:
        return (self.settings.get("endpoint") or "https://qyapi.weixin.qq.com").rstrip("/")

    @property
    def token_name(self) -> str:
        return f"wecom:{self.settings.get('corp_id')}:{self.settings.get('agent_id')}"

    def _token(self) -> str:
        def fetch() -> tuple[str, int]:
            reply = self._request(
                "GET",
                "/cgi-bin/gettoken",
                params={"corpid": self.settings["corp_id"], "corpsecret": self.credentials["corp_secret"]},
                token=False,
            )
            return str(reply["access_token"]), int(reply.get("expires_in") or 7200)

        return token_get(self.token_name, fetch)

    def forget_token(self) -> None:
        token_forget(self.token_name)

    def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None, token: bool = True
    ) -> dict[str, Any]:
        query = dict(params or {})
        if token:
            query["access_token"] = self._token()
        try:
            response = httpx.request(method, self.base + path, params=query, json=json, timeout=10.0)
        except httpx.HTTPError as exc:
            raise VendorUnavailable(f"{type(exc).__name__}: {exc}", code="UNREACHABLE") from exc
        if response.status_code >= 500:
            raise VendorUnavailable(f"HTTP {response.status_code}", code=f"HTTP{response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise VendorUnavailable(
                gettext("WeCom answered something that is not JSON."), code="UNREADABLE_REPLY"
            ) from exc
        if not isinstance(body, dict):
            raise VendorUnavailable(gettext("WeCom answered something that is not JSON."), code="UNREADABLE_REPLY")
        code = int(body.get("errcode") or 0)
        if code:
            raise _error(code, str(body.get("errmsg", "")), token_call=not token)
        return body

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A call with the token; an expired token is dropped, fetched again and the call made once more."""
        try:
            return self._request(method, path, **kwargs)
        except TokenExpired:
            self.forget_token()
            return self._request(method, path, **kwargs)

    # ---- capabilities -------------------------------------------------------------------------
    def send_text(self, *, to: list[str], content: str) -> str:
        return self._send(to, {"msgtype": "text", "text": {"content": content}})

    def send_markdown(self, *, to: list[str], content: str) -> str:
        return self._send(to, {"msgtype": "markdown", "markdown": {"content": content}})

    def send_card(self, *, to: list[str], title: str, description: str, url: str, button: str = "") -> str:
        card = {"title": title[:64], "description": description[:256], "url": url, "btntxt": button or gettext("Open")}
        return self._send(to, {"msgtype": "textcard", "textcard": card})

    def _send(self, to: list[str], message: dict[str, Any]) -> str:
        body = {"touser": "|".join(to[:1000]), "agentid": int(self.settings["agent_id"]), **message}
        reply = self.call("POST", "/cgi-bin/message/send", json=body)
        invalid = reply.get("invaliduser") or ""
        return f"{reply.get('msgid', '')}{' invalid:' + invalid if invalid else ''}"

    def tag_customer(self, *, staff_userid: str, external_userid: str, add: list[str], remove: list[str]) -> None:
        self.call(
            "POST",
            "/cgi-bin/externalcontact/mark_tag",
            json={"userid": staff_userid, "external_userid": external_userid, "add_tag": add, "remove_tag": remove},
        )

    def customer(self, external_userid: str) -> dict[str, Any]:
        """A WeCom customer's details, with the staff who follow them (remark phones among them)."""
        return self.call("GET", "/cgi-bin/externalcontact/get", params={"external_userid": external_userid})

    def test(self) -> str:
        self.forget_token()
        self._token()
        return gettext("Connected to WeCom: the app's token was issued.")


def _error(code: int, message: str, *, token_call: bool) -> VendorError:
    if code in TOKEN_ERRORS and not token_call:
        return TokenExpired(message, code=str(code))
    if code in THROTTLED:
        return VendorThrottled(message, code=str(code))
    if code in BUSY:
        return VendorUnavailable(message, code=str(code))
    return VendorRefused(explained(PLAIN, code, message), code=str(code))
