from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.loyalty.coupons import coupon_issue
from huiyuan.loyalty.exceptions import CouponNotUsable
from huiyuan.loyalty.models import CouponTemplate
from huiyuan.platform.errors import ValidationFailed
from huiyuan.platform.tenancy import tenant_timezone

from .. import guards
from ..registry import Action, ActionSkipped, Param, StepContext, register_action


@register_action
class IssueCoupon(Action):
    type = "issue_coupon"
    label = gettext_lazy("Give a coupon")
    issues_coupon = True
    params = (Param("template_id", gettext_lazy("Coupon"), "coupon_template"),)

    def clean(self, config: dict[str, Any], path: str, actor: Any) -> dict[str, Any]:
        cleaned = super().clean(config, path, actor)
        if not CouponTemplate.objects.filter(pk=cleaned["template_id"], active=True).exists():
            raise ValidationFailed(fields={f"{path}.template_id": [_("Choose a coupon that is on offer.")]})
        return cleaned

    def execute(self, ctx: StepContext) -> dict[str, Any]:
        guards.coupon_allowed(now=ctx.now)
        try:
            coupon = coupon_issue(
                template_id=ctx.config["template_id"], member_id=ctx.member.pk, idempotency_key=ctx.key
            )
        except CouponNotUsable as exc:  # the member holds the most of this coupon allowed
            raise ActionSkipped(str(exc)) from exc
        until = coupon.valid_until.astimezone(tenant_timezone()).date().isoformat() if coupon.valid_until else ""
        issued = {"id": coupon.pk, "code": coupon.code, "name": coupon.template.name, "valid_until": until}
        ctx.run.context["coupon"] = issued  # later messages of this run may name it
        ctx.run.save(update_fields=["context"])
        return {"coupon": issued}
