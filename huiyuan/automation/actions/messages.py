from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.platform.errors import ValidationFailed

from .. import guards
from ..messaging import message_values, render, template_check
from ..models import Message
from ..registry import CHANNELS, Action, ActionSkipped, Param, StepContext, register_action
from ..sending import message_queue


@register_action
class SendMessage(Action):
    type = "send_message"
    label = gettext_lazy("Send a message")
    sends_message = True
    params = (
        Param("channel", gettext_lazy("Channel"), "channel", default="inbox"),
        Param("sms_template_id", gettext_lazy("SMS template"), "sms_template", required=False),
        Param("subject", gettext_lazy("Title"), "text", required=False),
        Param("body", gettext_lazy("Text"), "longtext", required=False),
    )

    def clean(self, config: dict[str, Any], path: str, actor: Any) -> dict[str, Any]:
        cleaned = super().clean(config, path, actor)
        channel = CHANNELS.get(cleaned["channel"])
        if channel is None:
            raise ValidationFailed(fields={f"{path}.channel": [_("This channel is not available.")]})
        cleaned.update(channel.clean_options(cleaned, path))
        if not cleaned.get("body") and not cleaned.get("sms_template_id"):
            raise ValidationFailed(fields={f"{path}.body": [_("Write the message.")]})
        template_check(cleaned.get("body", ""), f"{path}.body")
        template_check(cleaned.get("subject", ""), f"{path}.subject")
        return cleaned

    def execute(self, ctx: StepContext) -> dict[str, Any]:
        channel = CHANNELS.get(ctx.config["channel"])
        if channel is None:
            raise ActionSkipped(_("The channel %(c)s is not connected.") % {"c": ctx.config["channel"]})
        member = ctx.member
        if channel.consent_field and not getattr(member, channel.consent_field):
            raise ActionSkipped(_("The member has not agreed to messages by %(c)s.") % {"c": channel.label})
        address = channel.address(member)
        if not address:
            raise ActionSkipped(_("The member has no address for %(c)s.") % {"c": channel.label})
        guards.message_allowed(member_id=member.pk, now=ctx.now)
        values = message_values(member, ctx.run.context, ctx.event)
        body = render(ctx.config.get("body", ""), values)
        subject = render(ctx.config.get("subject", ""), values)
        options = {"values": values, "reference": ctx.key}
        if ctx.config.get("sms_template_id"):
            options["template_id"] = ctx.config["sms_template_id"]
        message = Message.objects.create(
            member=member,
            channel=channel.key,
            address=address,
            subject=subject,
            body=body,
            options=options,
            step=ctx.step,
            rule=ctx.run.rule,
        )
        if channel.external:
            message_queue(message)  # sent after this step commits, claimed first: at most once
            return {"message_id": message.pk, "channel": channel.key, "queued": True}
        vendor_id = channel.send(
            member=member, address=address, subject=subject, body=body, message_id=message.pk, options=options
        )
        message.status, message.vendor_message_id, message.sent_at = Message.Status.SENT, vendor_id, timezone.now()
        message.save(update_fields=["status", "vendor_message_id", "sent_at"])
        return {"message_id": message.pk, "channel": channel.key}
