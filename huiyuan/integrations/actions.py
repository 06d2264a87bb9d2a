"""Automation actions that reach vendors: tag a member on WeCom (as the customer of the staff member
who added them), so staff see the segment on their own phone."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.automation.registry import Action, ActionFailed, ActionSkipped, Param, StepContext, register_action

from .models import Connection, MemberIdentity
from .registry import VendorError, VendorRefused
from .services import provider_for, vendor_call, vendor_error_text


@register_action
class TagOnWeCom(Action):
    type = "wecom_tag"
    label = gettext_lazy("Tag the member on WeCom")
    params = (Param("wecom_tag_id", gettext_lazy("WeCom customer tag id (et…)"), "text"),)

    def execute(self, ctx: StepContext) -> dict[str, Any]:
        identity = (
            MemberIdentity.objects.select_related("connection")
            .filter(member=ctx.member, connection__provider="wecom", connection__enabled=True)
            .first()
        )
        if identity is None:
            raise ActionSkipped(_("This member is not a WeCom customer of any staff member."))
        connection: Connection = identity.connection
        provider: Any = provider_for(connection)
        try:
            vendor_call(
                connection,
                "customer_tag",
                identity.external_id,
                lambda: provider.tag_customer(
                    staff_userid=identity.union_id,
                    external_userid=identity.external_id,
                    add=[ctx.config["wecom_tag_id"]],
                    remove=[],
                ),
                reference=ctx.key,
            )
        except VendorRefused as exc:
            raise ActionFailed(vendor_error_text(exc), retry=False) from exc
        except VendorError as exc:
            raise ActionFailed(vendor_error_text(exc)) from exc
        return {"tagged": identity.external_id}
