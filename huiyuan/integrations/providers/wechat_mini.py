"""WeChat mini program (小程序) sign-up: the login code becomes the person's openid (code2session), the
phone-number code becomes their verified phone (getuserphonenumber), ``vendor-protocols.md`` §5. A thin
httpx client: the stable access token is shared by every worker (each plain gettoken call would
invalidate the previous token)."""

from __future__ import annotations

from typing import Any

import httpx
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..registry import (
    MEMBER_SOURCE,
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

PLAIN = {
    40029: _("The login code is invalid or was used already (each one works once, for 5 minutes)."),
    40163: _("The login code was used already."),
    40013: _("The AppID is wrong."),
    40125: _("The AppSecret is wrong."),
    40226: _("WeChat marks this user as high-risk."),
}


@register_provider
class WeChatMiniProgram(Provider):
    key = "wechat_mini"
    label = _("WeChat mini program (微信小程序)")
    capabilities = frozenset({MEMBER_SOURCE})
    credential_fields = (Field("app_secret", _("AppSecret"), secret=True),)
    setting_fields = (
        Field("app_id", _("AppID")),
        Field("endpoint", _("API address"), required=False, default="https://api.weixin.qq.com"),
    )
    rate_per_second = 50.0

    @property
    def base(self) -> str:
        return (self.settings.get("endpoint") or "https://api.weixin.qq.com").rstrip("/")

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = httpx.request(method, self.base + path, timeout=10.0, **kwargs)
            body = response.json()
        except httpx.HTTPError as exc:
            raise VendorUnavailable(f"{type(exc).__name__}: {exc}", code="UNREACHABLE") from exc
        except ValueError as exc:
            raise VendorUnavailable(
                gettext("WeChat answered something that is not JSON."), code="UNREADABLE_REPLY"
            ) from exc
        code = int(body.get("errcode") or 0) if isinstance(body, dict) else -2
        if code in (40001, 42001, 40014):
            raise TokenExpired(str(body.get("errmsg", "")), code=str(code))
        if code in (45011, -1):
            raise (VendorThrottled if code == 45011 else VendorUnavailable)(str(body.get("errmsg", "")), code=str(code))
        if code:
            message = str(body.get("errmsg", "")) if isinstance(body, dict) else ""
            raise VendorRefused(explained(PLAIN, code, message), code=str(code))
        return body

    def _token(self) -> str:
        def fetch() -> tuple[str, int]:
            body = self._json(
                "POST",
                "/cgi-bin/stable_token",
                json={
                    "grant_type": "client_credential",
                    "appid": self.settings["app_id"],
                    "secret": self.credentials["app_secret"],
                    "force_refresh": False,
                },
            )
            return str(body["access_token"]), int(body.get("expires_in") or 7200)

        return token_get(f"wechat:{self.settings['app_id']}", fetch)

    def code_to_openid(self, js_code: str) -> tuple[str, str]:
        body = self._json(
            "GET",
            "/sns/jscode2session",
            params={
                "appid": self.settings["app_id"],
                "secret": self.credentials["app_secret"],
                "js_code": js_code,
                "grant_type": "authorization_code",
            },
        )
        return str(body["openid"]), str(body.get("unionid") or "")

    def phone_from_code(self, phone_code: str) -> str:
        for attempt in (1, 2):
            try:
                body = self._json(
                    "POST",
                    "/wxa/business/getuserphonenumber",
                    params={"access_token": self._token()},
                    json={"code": phone_code},
                )
                info = body.get("phone_info") or {}
                return f"+{info.get('countryCode', '86')}{info['purePhoneNumber']}"
            except TokenExpired:
                token_forget(f"wechat:{self.settings['app_id']}")
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def test(self) -> str:
        token_forget(f"wechat:{self.settings['app_id']}")
        self._token()
        return gettext("Connected to WeChat: the mini program's token was issued.")
