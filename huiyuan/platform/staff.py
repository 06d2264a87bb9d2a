"""Staff: the owner created at signup, invitations, role and store changes (all audited)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from .access import Actor, check_permission, sees_all_stores, store_ids_subquery
from .audit import audit_record
from .errors import NotFound, PermissionDenied, ValidationFailed
from .models import Store, StoreAssignment, User
from .phones import InvalidPhone, normalize_phone
from .roles import ALL_STORE_ROLES, ASSIGNABLE_ROLES, Role

INVITE_VALID_FOR = timedelta(days=7)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def staff_create_owner(*, name: str, phone: str, email: str, password: str) -> User:
    """Called by signup inside the new tenant's schema; inputs are already validated."""
    owner = User(username=phone or email, name=name, phone=phone or None, email=email, role=Role.OWNER)
    owner.set_password(password)
    owner.save()
    audit_record(actor=owner, action="platform.tenant.signup", obj=owner)
    return owner


@dataclass(frozen=True)
class Invitation:
    staff: User
    token: str  # shown once to the inviter; the accept link is /invite/<token>


def _validated_contact(phone: str, email: str, *, exclude_pk: int = 0) -> tuple[str | None, str]:
    errors: dict[str, list[str]] = {}
    normalized_phone: str | None = None
    if phone.strip():
        try:
            normalized_phone = normalize_phone(phone)
        except InvalidPhone:
            errors["phone"] = [_("Enter a valid mobile number, e.g. 13800138000.")]
        else:
            if User.objects.filter(phone=normalized_phone).exclude(pk=exclude_pk).exists():
                errors["phone"] = [_("A staff member with this phone number already exists.")]
    email = email.strip().lower()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = [_("Enter a valid e-mail address.")]
        else:
            if User.objects.filter(Q(email__iexact=email) | Q(username__iexact=email)).exclude(pk=exclude_pk).exists():
                errors["email"] = [_("A staff member with this e-mail address already exists.")]
    if not phone.strip() and not email:
        errors["phone"] = [_("Enter a mobile number or an e-mail address.")]
    if errors:
        raise ValidationFailed(fields=errors)
    return normalized_phone, email


def _check_role_assignable(actor: Actor, role: str) -> None:
    if role not in Role.values:
        raise ValidationFailed(fields={"role": [_("Unknown role.")]})
    if role not in ASSIGNABLE_ROLES.get(actor.role, frozenset()):
        raise PermissionDenied(_("You may not assign the role %(role)s.") % {"role": Role(role).label})


def _validated_store_ids(role: str, store_ids: list[int]) -> list[int]:

    ids = sorted(set(store_ids))
    found = set(Store.objects.filter(pk__in=ids).values_list("pk", flat=True))
    if missing := [i for i in ids if i not in found]:
        raise ValidationFailed(fields={"stores": [_("Unknown stores: %(ids)s") % {"ids": missing}]})
    if role not in ALL_STORE_ROLES and not ids:
        raise ValidationFailed(fields={"stores": [_("Store managers and cashiers need at least one store.")]})
    return ids


def staff_invite(
    *, actor: Actor, name: str, role: str, phone: str = "", email: str = "", store_ids: list[int] | None = None
) -> Invitation:
    check_permission(actor, "platform.staff.manage")
    _check_role_assignable(actor, role)
    normalized_phone, email = _validated_contact(phone, email)
    if not name.strip():
        raise ValidationFailed(fields={"name": [_("Enter the staff member's name.")]})
    ids = _validated_store_ids(role, store_ids or [])
    token = secrets.token_urlsafe(24)
    with transaction.atomic():
        staff = User(
            username=normalized_phone or email,
            name=name.strip(),
            phone=normalized_phone,
            email=email,
            role=role,
            is_active=False,
            invited_by=actor,
            invite_token_hash=_hash_token(token),
            invite_expires_at=timezone.now() + INVITE_VALID_FOR,
        )
        staff.set_unusable_password()
        staff.save()
        StoreAssignment.objects.bulk_create([StoreAssignment(user=staff, store_id=i) for i in ids])
        audit_record(actor=actor, action="platform.staff.invite", obj=staff, changes={"role": role, "stores": ids})
    return Invitation(staff=staff, token=token)


def staff_for_invite_token(token: str) -> User:
    staff = User.objects.filter(
        invite_token_hash=_hash_token(token), is_active=False, invite_expires_at__gt=timezone.now()
    ).first()
    if staff is None:
        raise NotFound(_("This invitation is invalid or has expired."))
    return staff


def staff_accept_invite(*, token: str, password: str) -> User:
    with transaction.atomic():
        staff = staff_for_invite_token(token)
        try:
            validate_password(password, staff)
        except ValidationError as exc:
            raise ValidationFailed(fields={"password": [str(m) for m in exc.messages]}) from exc
        staff.set_password(password)
        staff.is_active = True
        staff.invite_token_hash = ""
        staff.invite_expires_at = None
        staff.save(update_fields=["password", "is_active", "invite_token_hash", "invite_expires_at"])
        audit_record(actor=staff, action="platform.staff.accept_invite", obj=staff)
    return staff


def staff_get(*, actor: Actor, staff_id: int) -> User:
    staff = staff_list(actor=actor).filter(pk=staff_id).first()
    if staff is None:
        raise NotFound()
    return staff


def staff_list(*, actor: Any, search: str = "") -> QuerySet[User]:
    """Staff the actor may see: everyone for HQ roles; for store managers, staff sharing a store."""
    check_permission(actor, "platform.staff.view")
    qs = User.objects.prefetch_related("stores")
    if not sees_all_stores(actor):
        qs = qs.filter(store_assignments__store_id__in=store_ids_subquery(actor)).distinct()
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(username__icontains=search) | Q(phone__contains=search))
    return qs.order_by("pk")


def staff_update(
    *,
    actor: Actor,
    staff_id: int,
    role: str | None = None,
    store_ids: list[int] | None = None,
    is_active: bool | None = None,
    name: str | None = None,
) -> User:
    check_permission(actor, "platform.staff.manage")
    with transaction.atomic():
        staff = User.objects.select_for_update().filter(pk=staff_id).first()
        if staff is None:
            raise NotFound()
        if staff.role == Role.OWNER or (staff.role == Role.HQ_ADMIN and actor.role != Role.OWNER):
            raise PermissionDenied(_("Only the owner may change the owner or HQ admins."))
        if staff.pk == actor.pk:
            raise PermissionDenied(_("You cannot change your own role, stores or status."))
        changes: dict[str, Any] = {}
        new_role = role if role is not None else staff.role
        if role is not None and role != staff.role:
            _check_role_assignable(actor, role)
            changes["role"] = [staff.role, role]
            staff.role = role
        if store_ids is not None or role is not None:
            current = sorted(staff.store_assignments.values_list("store_id", flat=True))
            wanted = _validated_store_ids(new_role, store_ids if store_ids is not None else current)
            if wanted != current:
                StoreAssignment.objects.filter(user=staff).exclude(store_id__in=wanted).delete()
                StoreAssignment.objects.bulk_create(
                    [StoreAssignment(user=staff, store_id=i) for i in wanted if i not in current]
                )
                changes["stores"] = [current, wanted]
        if is_active is not None and is_active != staff.is_active:
            changes["is_active"] = [staff.is_active, is_active]
            staff.is_active = is_active
        if name is not None and name.strip() and name.strip() != staff.name:
            changes["name"] = [staff.name, name.strip()]
            staff.name = name.strip()
        if changes:
            staff.save(update_fields=["role", "is_active", "name"])
            action = "platform.staff.change_role" if "role" in changes else "platform.staff.update"
            audit_record(actor=actor, action=action, obj=staff, changes=changes)
    return staff


def staff_preferences_update(*, actor: Any, **changes: Any) -> None:
    """Keep console choices (member list columns…) on the staff member, merged into what is there."""
    if not isinstance(actor, User):
        return
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=actor.pk)
        user.preferences = {**(user.preferences or {}), **changes}
        user.save(update_fields=["preferences"])
    actor.preferences = user.preferences
