"""SMS as an automation channel: the merchant's enabled SMS connection, a vendor template chosen in
the rule's message action, our variables filling the template's parameters."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.automation.messaging import render
from huiyuan.automation.registry import ActionFailed, ActionSkipped, Channel, register_channel
from huiyuan.platform.errors import ValidationFailed

from .models import SmsTemplate
from .registry import SMS, VendorError, VendorRefused
from .services import connection_for, provider_for, vendor_call, vendor_error_text


def sms_params(template: SmsTemplate, values: dict[str, str]) -> Any:
    """The vendor template's parameters from ours: a dict for Aliyun, a list for Tencent."""
    if isinstance(template.params, list):
        return [render(str(p), values) for p in template.params]
    return {key: render(str(value), values) for key, value in (template.params or {}).items()}


@register_channel
class SmsChannel(Channel):
    key = "sms"
    label = gettext_lazy("SMS")
    consent_field = "consent_sms"

    def address(self, member: Any) -> str | None:
        return member.phone or None

    def clean_options(self, config: dict[str, Any], path: str) -> dict[str, Any]:
        """An SMS goes out as a template the vendor approved: the action must name one."""
        if not SmsTemplate.objects.filter(pk=config.get("sms_template_id") or 0, connection__enabled=True).exists():
            raise ValidationFailed(
                fields={f"{path}.sms_template_id": [_("Choose an SMS template of a connected provider.")]}
            )
        return {}

    def send(
        self, *, member: Any, address: str, subject: str, body: str, message_id: int, options: dict[str, Any]
    ) -> str:
        connection = connection_for(SMS)
        if connection is None:
            raise ActionSkipped(_("No SMS provider is connected."))
        reference = str(options.get("reference", ""))
        values = options.get("values") or {}
        template = SmsTemplate.objects.filter(pk=options.get("template_id") or 0, connection=connection).first()
        if template is None:
            raise ActionFailed(
                _("The SMS template of this action is not one of the connected provider's."), retry=False
            )
        provider = provider_for(connection)
        try:
            # No retry here: the vendor may have sent it. The step retries only after a failure that
            # says it did not (throttling, unreachable before sending).
            return vendor_call(
                connection,
                "send_sms",
                address,
                lambda: provider.send_sms(  # type: ignore[attr-defined]
                    phone=address,
                    template_code=template.vendor_code,
                    params=sms_params(template, values),
                    reference=reference,
                ),
                reference=reference,
                retries=0,
            )
        except VendorRefused as exc:
            raise ActionFailed(vendor_error_text(exc), retry=False) from exc
        except VendorError as exc:
            raise ActionFailed(vendor_error_text(exc), retry=True) from exc
