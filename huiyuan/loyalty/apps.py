from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "huiyuan.loyalty"
    label = "loyalty"
    verbose_name = "Loyalty"

    def ready(self) -> None:
        from huiyuan.members.segments import register_segment_action, register_segment_field

        from .coupons import coupon_issue_to_segment

        register_segment_action("issue_coupon", coupon_issue_to_segment, params=("template_id",))

        # Cached ledger balances live on the member row, so segments filter them in the same query.
        register_segment_field("points_balance", "number", "points_balance")
        register_segment_field("stored_principal", "decimal", "stored_principal")
        register_segment_field("stored_bonus", "decimal", "stored_bonus")
        register_segment_field("tier", "choice", "tier__name", choices=_tier_names)

        from huiyuan.members.erasure import register_member_eraser

        register_member_eraser(_erase_payment_password)


def _tier_names() -> list[str]:
    from .models import Tier

    return list(Tier.objects.values_list("name", flat=True))


def _erase_payment_password(member_id: int) -> None:
    from .models import PaymentPassword

    PaymentPassword.objects.filter(member_id=member_id).delete()
