"""Aliyun SMS (dysmsapi 2017-05-25) through Alibaba Cloud's official SDK, which signs every request
(ACS3-HMAC-SHA256). Business errors arrive in HTTP 200 with ``Code`` other than ``OK``; gateway errors
(bad key, bad signature) as HTTP 4xx, which the SDK raises as ``TeaException``."""

from __future__ import annotations

import json
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..registry import (
    RATE_FIELD,
    SMS,
    Field,
    Provider,
    VendorError,
    VendorRefused,
    VendorThrottled,
    VendorUnavailable,
    explained,
    register_provider,
)
from ._endpoint import split_endpoint

if TYPE_CHECKING:
    from alibabacloud_dysmsapi20170525.client import Client
    from alibabacloud_tea_util import models as tea_util

THROTTLED = {"isv.BUSINESS_LIMIT_CONTROL", "Throttling.User", "Throttling", "isv.DAY_LIMIT_CONTROL"}
VENDOR_FAULT = {"isp.SYSTEM_ERROR", "InternalError", "ServiceUnavailable", "isv.OUT_OF_SERVICE"}


@register_provider
class AliyunSms(Provider):
    key = "aliyun_sms"
    label = _("Aliyun SMS (阿里云短信)")
    capabilities = frozenset({SMS})
    credential_fields = (
        Field("access_key_id", _("AccessKey ID")),
        Field("access_key_secret", _("AccessKey Secret"), secret=True),
    )
    setting_fields = (
        Field("sign_name", _("Signature (签名)"), help=_("The approved signature, e.g. 会员通")),
        Field("endpoint", _("Endpoint"), required=False, default="https://dysmsapi.aliyuncs.com"),
        RATE_FIELD,
    )
    rate_per_second = 100.0  # well under the account's 5,000/s; the per-number limits are the vendor's

    @cached_property
    def _client(self) -> Client:
        """Built once per provider object (``provider_for`` keeps them while the connection is unchanged)."""
        # The SDK takes 0.2 s to import: only processes that send SMS pay it.
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi import models as openapi

        protocol, host = split_endpoint(self.settings.get("endpoint", ""), "dysmsapi.aliyuncs.com")
        return Client(
            openapi.Config(
                access_key_id=self.credentials["access_key_id"],
                access_key_secret=self.credentials["access_key_secret"],
                endpoint=host,
                protocol=protocol,
            )
        )

    def _runtime(self) -> tea_util.RuntimeOptions:
        from alibabacloud_tea_util import models as tea_util

        # SendSms is not idempotent: no SDK retries; ours happen only when the vendor did not send.
        return tea_util.RuntimeOptions(autoretry=False, connect_timeout=5000, read_timeout=10000)

    def send_sms(self, *, phone: str, template_code: str, params: dict[str, str], reference: str) -> str:
        from alibabacloud_dysmsapi20170525 import models as dysms

        request = dysms.SendSmsRequest(
            phone_numbers=phone.removeprefix("+86"),
            sign_name=self.settings["sign_name"],
            template_code=template_code,
            template_param=json.dumps(params, ensure_ascii=False),
            out_id=reference[:64],
        )
        body = _call(lambda: self._client.send_sms_with_options(request, self._runtime()))
        if body.code != "OK":
            raise _business_error(body.code or "", body.message or "")
        return str(body.biz_id or "")

    def test(self) -> str:
        from alibabacloud_dysmsapi20170525 import models as dysms

        request = dysms.QuerySmsSignRequest(sign_name=self.settings["sign_name"])
        body = _call(lambda: self._client.query_sms_sign_with_options(request, self._runtime()))
        if body.code != "OK":
            raise _business_error(body.code or "", body.message or "")
        status = {0: gettext("under review"), 1: gettext("approved"), 2: gettext("rejected")}.get(
            body.sign_status, str(body.sign_status)
        )
        return gettext("Connected. Signature %(sign)s is %(status)s.") % {
            "sign": self.settings["sign_name"],
            "status": status,
        }


def _call(call: Any) -> Any:
    from darabonba.exceptions import UnretryableException as DaraUnretryable
    from Tea.exceptions import TeaException, UnretryableException

    try:
        return call().body
    except (UnretryableException, DaraUnretryable, OSError, ValueError) as exc:  # unreachable, timeout, garbled
        raise VendorUnavailable(f"{type(exc).__name__}: {exc}"[:300], code="UNREACHABLE") from exc
    except TeaException as exc:
        code = str(getattr(exc, "code", "") or "")
        status = getattr(exc, "status_code", None) or getattr(exc, "statusCode", None)
        if code in THROTTLED:
            raise VendorThrottled(exc.message or code, code=code) from exc
        if (isinstance(status, int) and status >= 500) or code in VENDOR_FAULT:
            raise VendorUnavailable(exc.message or code, code=code) from exc
        if not code:  # the SDK could not read the reply at all
            raise VendorUnavailable(str(exc)[:300], code="UNREADABLE_REPLY") from exc
        raise VendorRefused(explained(PLAIN, code, exc.message or ""), code=code) from exc


def _business_error(code: str, message: str) -> VendorError:
    if code in THROTTLED:
        return VendorThrottled(message, code=code, wait=1.0)
    if code in VENDOR_FAULT:
        return VendorUnavailable(message, code=code)
    return VendorRefused(explained(PLAIN, code, message), code=code)


PLAIN = {
    "InvalidAccessKeyId.NotFound": _("The AccessKey ID is not known to Aliyun."),
    "SignatureDoesNotMatch": _("The AccessKey Secret does not match the AccessKey ID."),
    "isv.SMS_SIGNATURE_ILLEGAL": _("The signature is not approved for this account."),
    "isv.SMS_TEMPLATE_ILLEGAL": _("The template is not approved for this account."),
    "isv.MOBILE_NUMBER_ILLEGAL": _("The phone number is not valid."),
    "isv.AMOUNT_NOT_ENOUGH": _("The Aliyun account has no money left."),
    "isv.TEMPLATE_MISSING_PARAMETERS": _("The template needs parameters that were not given."),
    "isp.RAM_PERMISSION_DENY": _("This AccessKey may not send SMS (RAM permission)."),
}
