from django.utils.translation import gettext_lazy as _

from huiyuan.platform.errors import DomainError


class InsufficientPoints(DomainError):
    code = "INSUFFICIENT_POINTS"
    status_code = 409
    default_message = _("The member does not have enough points.")


class InsufficientBalance(DomainError):
    code = "INSUFFICIENT_BALANCE"
    status_code = 409
    default_message = _("The member's stored value does not cover this amount.")


class LedgerKeyConflict(DomainError):
    code = "IDEMPOTENCY_KEY_REUSED"
    status_code = 409
    default_message = _("This idempotency key was already used for a different ledger entry.")


class CouponNotUsable(DomainError):
    code = "COUPON_NOT_USABLE"
    status_code = 409
    default_message = _("This coupon cannot be used.")


class CouponOutOfStock(DomainError):
    code = "COUPON_OUT_OF_STOCK"
    status_code = 409
    default_message = _("No coupons of this kind are left to issue.")


class PaymentPasswordRequired(DomainError):
    code = "PAYMENT_PASSWORD_REQUIRED"
    status_code = 403
    default_message = _("Enter the member's payment password.")


class PaymentPasswordWrong(DomainError):
    code = "PAYMENT_PASSWORD_WRONG"
    status_code = 403
    default_message = _("The payment password is wrong.")


class PaymentPasswordLocked(DomainError):
    code = "PAYMENT_PASSWORD_LOCKED"
    status_code = 403
    default_message = _("Too many wrong payment passwords; try again later.")
