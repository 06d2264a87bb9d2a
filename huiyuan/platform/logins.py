"""Login protection around django-axes: who is locked out, unlocking by HQ, and failed logins and
lockouts in the audit log (with phones masked: the login a person typed may be their number)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from .access import Actor, check_permission
from .audit import audit_record
from .phones import InvalidPhone, mask_phone, normalize_phone


def lockout_minutes() -> int:
    return round(float(settings.AXES_COOLOFF_TIME) * 60)


def _shown_login(login: str) -> str:
    try:
        return mask_phone(normalize_phone(login))
    except InvalidPhone:
        return login[:150]


def staff_locked_out(user_ids: list[int]) -> set[int]:
    """Which of these staff members cannot log in right now."""
    from axes.helpers import get_cool_off
    from axes.models import AccessAttempt
    from django.utils import timezone

    keys = {f"user:{pk}": pk for pk in user_ids}
    cool_off = get_cool_off()
    since = timezone.now() - cool_off if cool_off else None
    attempts = AccessAttempt.objects.filter(
        username__in=list(keys), failures_since_start__gte=settings.AXES_FAILURE_LIMIT
    )
    if since is not None:
        attempts = attempts.filter(attempt_time__gte=since)
    locked = attempts.values_list("username", flat=True)
    return {keys[key] for key in locked}


def staff_unlock(*, actor: Actor, staff_id: int) -> int:
    """HQ or the owner lets a locked-out staff member try again at once."""
    from axes.utils import reset

    from .staff import staff_get

    check_permission(actor, "platform.staff.manage")
    member = staff_get(actor=actor, staff_id=staff_id)
    cleared = reset(username=f"user:{member.pk}")
    audit_record(actor=actor, action="platform.login.unlock", obj=member, changes={"cleared": cleared})
    return cleared


@receiver(user_login_failed, dispatch_uid="huiyuan.audit_failed_login")
def _audit_failed_login(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "tenant"):
        return
    login = str(credentials.get("username") or "")
    locked = bool(getattr(request, "axes_locked_out", False))
    audit_record(
        actor=None,
        action="platform.login.locked" if locked else "platform.login.failed",
        object_type="platform.user",
        object_repr=_shown_login(login),
    )
