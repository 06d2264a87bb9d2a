"""Tencent Cloud SMS (sms 2021-01-11) through Tencent's official SDK (TC3-HMAC-SHA256 signed).
Request-level errors raise ``TencentCloudSDKException``; per-number failures come back inside
``SendStatusSet`` with ``Code`` other than ``Ok``."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models, sms_client

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

THROTTLED_PREFIXES = ("LimitExceeded", "RequestLimitExceeded")
VENDOR_FAULT_PREFIXES = ("InternalError", "FailedOperation.ServiceUnavailable", "ResourceUnavailable")


@register_provider
class TencentSms(Provider):
    key = "tencent_sms"
    label = _("Tencent Cloud SMS (腾讯云短信)")
    capabilities = frozenset({SMS})
    credential_fields = (
        Field("secret_id", _("SecretId")),
        Field("secret_key", _("SecretKey"), secret=True),
    )
    setting_fields = (
        Field("sdk_app_id", _("SMS SdkAppId"), help=_("e.g. 1400006666")),
        Field("sign_name", _("Signature (签名)")),
        Field("region", _("Region"), required=False, default="ap-guangzhou"),
        Field("endpoint", _("Endpoint"), required=False, default="https://sms.tencentcloudapi.com"),
        RATE_FIELD,
    )
    rate_per_second = 100.0

    @cached_property
    def _client(self) -> sms_client.SmsClient:
        """Built once per provider object (``provider_for`` keeps them while the connection is unchanged)."""
        protocol, host = split_endpoint(self.settings.get("endpoint", ""), "sms.tencentcloudapi.com")
        http = HttpProfile(protocol=protocol, endpoint=host)
        http.reqTimeout = 10
        return sms_client.SmsClient(
            credential.Credential(self.credentials["secret_id"], self.credentials["secret_key"]),
            self.settings.get("region") or "ap-guangzhou",
            ClientProfile(httpProfile=http),
        )

    def send_sms(self, *, phone: str, template_code: str, params: list[str], reference: str) -> str:
        request = models.SendSmsRequest()
        request.PhoneNumberSet = [phone]
        request.SmsSdkAppId = self.settings["sdk_app_id"]
        request.SignName = self.settings["sign_name"]
        request.TemplateId = template_code
        request.TemplateParamSet = [str(p) for p in params]
        request.SessionContext = reference[:512]
        reply = _call(lambda: self._client.SendSms(request))
        statuses = reply.SendStatusSet or []
        if not statuses:
            raise VendorUnavailable(gettext("The reply named no message."), code="MALFORMED_REPLY")
        status = statuses[0]
        if status.Code != "Ok":
            raise _error(status.Code or "", status.Message or "")
        return str(status.SerialNo or "")

    def test(self) -> str:
        request = models.SmsPackagesStatisticsRequest()
        request.SmsSdkAppId = self.settings["sdk_app_id"]
        request.Limit = 1
        request.Offset = 0
        reply = _call(lambda: self._client.SmsPackagesStatistics(request))
        packages = reply.SmsPackagesStatisticsSet or []
        left = sum(int(p.PackageAmount or 0) - int(p.CurrentUsage or 0) for p in packages)
        return gettext("Connected. About %(n)d messages left in the current package.") % {"n": left}


def _call(call: Any) -> Any:
    try:
        return call()
    except TencentCloudSDKException as exc:
        code = str(exc.get_code() or "")
        if code in ("ClientNetworkError", "JSONDecodeError") or code.startswith(("ClientError", "ServerNetworkError")):
            raise VendorUnavailable(exc.get_message() or code, code=code) from exc
        raise _error(code, exc.get_message() or "") from exc


def _error(code: str, message: str) -> VendorError:
    if code.startswith(THROTTLED_PREFIXES):
        return VendorThrottled(message, code=code, wait=1.0)
    if code.startswith(VENDOR_FAULT_PREFIXES):
        return VendorUnavailable(message, code=code)
    return VendorRefused(explained(PLAIN, code, message), code=code)


PLAIN = {
    "AuthFailure.SecretIdNotFound": _("The SecretId is not known to Tencent Cloud."),
    "AuthFailure.SignatureFailure": _("The SecretKey does not match the SecretId."),
    "AuthFailure.SignatureExpire": _("This server's clock is more than 5 minutes off; fix the time."),
    "FailedOperation.SignatureIncorrectOrUnapproved": _("The signature is not approved for this account."),
    "FailedOperation.TemplateIncorrectOrUnapproved": _("The template is not approved for this account."),
    "InvalidParameterValue.IncorrectPhoneNumber": _("The phone number is not valid."),
    "FailedOperation.InsufficientBalanceInSmsPackage": _("The SMS package is used up."),
}
