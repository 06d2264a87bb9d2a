from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.members.services import member_payload
from huiyuan.platform.errors import ValidationFailed

from ..registry import Action, ActionFailed, Param, StepContext, register_action


@register_action
class CallWebhook(Action):
    """POST the member and the event as JSON to the merchant's URL, signed with HMAC-SHA256 of
    ``timestamp.body`` under the rule's secret (header ``X-Huiyuan-Signature: t=…,v1=…``), with the
    step's key as ``Idempotency-Key`` so the receiver can drop a retry it already handled."""

    type = "call_webhook"
    label = gettext_lazy("Call a webhook")
    params = (
        Param("url", gettext_lazy("URL"), "text"),
        Param("secret", gettext_lazy("Signing secret"), "text"),
    )

    def clean(self, config: dict[str, Any], path: str, actor: Any) -> dict[str, Any]:
        cleaned = super().clean(config, path, actor)
        url = httpx.URL(cleaned["url"]) if cleaned["url"].startswith(("http://", "https://")) else None
        if url is None or not url.host:
            raise ValidationFailed(fields={f"{path}.url": [_("A web address starting with https://.")]})
        return cleaned

    def execute(self, ctx: StepContext) -> dict[str, Any]:
        body = json.dumps(
            {"rule_id": ctx.run.rule_id, "member": member_payload(ctx.member), "event": ctx.event},
            ensure_ascii=False,
            default=str,
        ).encode()
        stamp = str(int(time.time()))
        secret = ctx.config["secret"].encode()
        signature = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Huiyuan-Signature": f"t={stamp},v1={signature}",
            "Idempotency-Key": ctx.key,
        }
        try:
            reply = httpx.post(ctx.config["url"], content=body, headers=headers, timeout=10.0)
        except httpx.HTTPError as exc:
            raise ActionFailed(f"{type(exc).__name__}: {exc}") from exc
        if reply.status_code >= 500 or reply.status_code == 429:
            raise ActionFailed(f"HTTP {reply.status_code}")
        if reply.status_code >= 400:  # the receiver refuses this request: another try will not change that
            raise ActionFailed(f"HTTP {reply.status_code}: {reply.text[:200]}", retry=False)
        return {"status": reply.status_code}
