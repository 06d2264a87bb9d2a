"""Member writes: enrol, update, merge, delete. Each records history and an outbox event in the
same transaction as the change."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext as _

from huiyuan.platform.access import ApiKeyPrincipal, check_permission, has_operation, in_scope
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import Conflict, ValidationFailed
from huiyuan.platform.events.services import event_record
from huiyuan.platform.phones import InvalidPhone, normalize_phone
from huiyuan.platform.tenancy import tenant_today

from .custom_fields import clean_custom_values
from .models import Lifecycle, Member, MemberHistory, MemberTag, Order, Store
from .parsing import parse_bool, parse_date
from .pinyin import pinyin_refresh
from .selectors import member_access_by_id
from .stats import stats_rebuild

CORE_FIELDS = (
    "name",
    "phone",
    "gender",
    "birthday",
    "province",
    "city",
    "home_store_id",
    "status",
    "consent_sms",
    "consent_wechat",
    "consent_email",
    "email",
)
GENDER_WORDS = {
    "male": Member.Gender.MALE,
    "m": Member.Gender.MALE,
    "男": Member.Gender.MALE,
    "1": Member.Gender.MALE,
    "先生": Member.Gender.MALE,
    "female": Member.Gender.FEMALE,
    "f": Member.Gender.FEMALE,
    "女": Member.Gender.FEMALE,
    "2": Member.Gender.FEMALE,
    "女士": Member.Gender.FEMALE,
    "男士": Member.Gender.MALE,
    "男性": Member.Gender.MALE,
    "man": Member.Gender.MALE,
    "女性": Member.Gender.FEMALE,
    "小姐": Member.Gender.FEMALE,
    "woman": Member.Gender.FEMALE,
    "unknown": Member.Gender.UNKNOWN,
    "未知": Member.Gender.UNKNOWN,
    "保密": Member.Gender.UNKNOWN,
    "其他": Member.Gender.UNKNOWN,
    "0": Member.Gender.UNKNOWN,
}


def parse_gender(raw: Any) -> str:
    text = str(raw).strip().lower()
    if text.endswith(".0"):
        text = text[:-2]
    if text in GENDER_WORDS:
        return str(GENDER_WORDS[text])
    raise ValueError(text)


def next_card_no() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('member_card_no_seq')")
        (number,) = cursor.fetchone()  # type: ignore[misc]
    return f"8{number:011d}"


def actor_label(actor: Any) -> str:
    return str(actor)[:150] if actor is not None else "system"


def history_record(
    member_id: int, action: str, changes: dict[str, Any], *, actor: Any, source: str = ""
) -> MemberHistory:
    user = actor if actor is not None and not isinstance(actor, ApiKeyPrincipal) and actor.pk else None
    return MemberHistory.objects.create(
        member_id=member_id, action=action, changes=changes, actor=user, actor_label=actor_label(actor), source=source
    )


def clean_core(
    data: dict[str, Any], *, actor: Any, member: Member | None = None
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate core member fields (only the keys present in ``data``)."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for name in CORE_FIELDS:
        if name not in data:
            continue
        raw = data[name]
        if name == "phone":
            try:
                phone = normalize_phone(raw)
            except InvalidPhone:
                fail("phone", _("Enter a valid mobile number, e.g. 13800138000."))
                continue
            if Member.objects.filter(phone=phone).exclude(pk=member.pk if member else 0).exists():
                fail("phone", _("A member with this phone number already exists."))
            cleaned["phone"] = phone
        elif name in ("name", "province", "city"):
            value = " ".join(str(raw or "").split())
            limit = 100 if name == "name" else 32
            if len(value) > limit:
                fail(name, _("At most %(n)d characters.") % {"n": limit})
            cleaned[name] = value
        elif name == "gender":
            try:
                cleaned["gender"] = parse_gender(raw) if raw not in (None, "") else Member.Gender.UNKNOWN
            except ValueError:
                fail("gender", _("Use male / female (男 / 女)."))
        elif name == "birthday":
            if raw in (None, ""):
                cleaned["birthday"] = None
                continue
            try:
                birthday = parse_date(raw)
            except ValueError:
                fail("birthday", _("Enter a date such as 1990-05-20."))
                continue
            if not date(1900, 1, 1) <= birthday <= tenant_today():
                fail("birthday", _("The birthday must be between 1900 and today."))
            cleaned["birthday"] = birthday
        elif name == "home_store_id":
            if raw in (None, ""):
                cleaned["home_store_id"] = None
                continue
            store = Store.objects.filter(pk=raw).first() if str(raw).isdecimal() else None
            if store is None or not in_scope(actor, store):
                fail("home_store", _("Unknown store."))
            else:
                cleaned["home_store_id"] = store.pk
        elif name == "status":
            if raw not in Member.Status.values:
                fail("status", _("Unknown status."))
            cleaned["status"] = raw
        elif name.startswith("consent_"):
            try:
                cleaned[name] = parse_bool(raw) if not isinstance(raw, bool) else raw
            except ValueError:
                fail(name, _("Enter yes or no (是 / 否)."))
        elif name == "email":
            value = str(raw or "").strip().lower()
            if value:
                try:
                    validate_email(value)
                except ValidationError:
                    fail("email", _("Enter a valid e-mail address."))
            cleaned["email"] = value
    return cleaned, errors


def _store_scope_errors(actor: Any, cleaned: dict[str, Any]) -> dict[str, list[str]]:
    """Store-scoped staff must enrol members into one of their own stores."""
    from huiyuan.platform.access import sees_all_stores

    if not sees_all_stores(actor) and not cleaned.get("home_store_id"):
        return {"home_store": [_("Choose one of your stores.")]}
    return {}


def member_payload(member: Member) -> dict[str, Any]:
    return {
        "id": member.pk,
        "card_no": member.card_no,
        "name": member.name,
        "phone": member.phone,
        "home_store_id": member.home_store_id,
        "channel": member.channel,
        "birthday": member.birthday.isoformat() if member.birthday else None,
    }


def member_enroll(
    *,
    actor: Any,
    data: dict[str, Any] | None = None,
    channel: str = Member.Channel.STORE,
    source: str = "",
    **fields: Any,
) -> Member:
    """Create a member from core fields and ``custom_fields``. Keyword fields are accepted too."""
    check_permission(actor, "members.member.create")
    data = {**(data or {}), **fields}
    custom_input = data.pop("custom_fields", None) or {}
    if "phone" not in data:
        data["phone"] = ""
    cleaned, errors = clean_core(data, actor=actor)
    errors.update(_store_scope_errors(actor, cleaned) if "home_store" not in errors else {})
    custom, custom_errors = clean_custom_values(custom_input, role=getattr(actor, "role", None))
    errors.update({f"custom_fields.{k}": [v] for k, v in custom_errors.items()})
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        member = Member.objects.create(**cleaned, custom_fields=custom, channel=channel, card_no=next_card_no())
        history_record(
            member.pk, MemberHistory.Action.CREATED, {**cleaned, "custom_fields": custom}, actor=actor, source=source
        )
        audit_record(actor=actor, action="members.member.create", obj=member)
        event_record("member.created", member_payload(member), aggregate_type="member", aggregate_id=member.pk)
        pinyin_refresh([member.pk])
    return member


def member_update(*, actor: Any, member_id: int, data: dict[str, Any], source: str = "") -> Member:
    """Partial update. Changing a phone needs the PII permission as well (you cannot edit what you
    may not see); a store-scoped user can only move a member to one of their own stores."""
    check_permission(actor, "members.member.update")
    with transaction.atomic():
        member = member_access_by_id(actor=actor, member_id=member_id)
        member = Member.objects.select_for_update().get(pk=member.pk)
        data = dict(data)
        custom_input = data.pop("custom_fields", None)
        if "phone" in data and not has_operation(actor, "members.pii.view"):
            raise ValidationFailed(fields={"phone": [_("You may not change phone numbers.")]})
        cleaned, errors = clean_core(data, actor=actor, member=member)
        if "home_store_id" in cleaned and "home_store" not in errors:
            # "No store" would hide the member from every store, the manager's own included.
            errors.update(_store_scope_errors(actor, cleaned))
        custom = member.custom_fields
        if custom_input is not None:
            custom, custom_errors = clean_custom_values(
                custom_input, member=member, partial=True, role=getattr(actor, "role", None)
            )
            errors.update({f"custom_fields.{k}": [v] for k, v in custom_errors.items()})
        if errors:
            raise ValidationFailed(fields=errors)
        changes: dict[str, Any] = {k: [getattr(member, k), v] for k, v in cleaned.items() if getattr(member, k) != v}
        if custom != member.custom_fields:
            changes["custom_fields"] = {
                k: [member.custom_fields.get(k), custom.get(k)]
                for k in set(custom) | set(member.custom_fields)
                if member.custom_fields.get(k) != custom.get(k)
            }
            member.custom_fields = custom
        for name, value in cleaned.items():
            setattr(member, name, value)
        if changes:
            member.save()
            if "name" in changes:
                pinyin_refresh([member.pk])
            history_record(member.pk, MemberHistory.Action.UPDATED, changes, actor=actor, source=source)
            audit_record(actor=actor, action="members.member.update", obj=member, changes=_redact(changes))
            event_record(
                "member.updated",
                {**member_payload(member), "changed": sorted(changes)},
                aggregate_type="member",
                aggregate_id=member.pk,
            )
    return member


def _redact(changes: dict[str, Any]) -> dict[str, Any]:
    """The audit log names changed PII fields without copying the values."""
    return {k: ("…" if k in ("phone", "email", "birthday") else v) for k, v in changes.items()}


def member_merge(*, actor: Any, keep_id: int, merge_id: int, source: str = "") -> Member:
    """Fold a duplicate record of the same person into ``keep``: orders and tags move over, empty
    fields of ``keep`` are filled from the duplicate, stats are recomputed, the duplicate is deleted."""
    check_permission(actor, "members.member.delete")
    if keep_id == merge_id:
        raise ValidationFailed(fields={"merge_id": [_("Choose two different members.")]})
    with transaction.atomic():
        keep = member_access_by_id(actor=actor, member_id=keep_id)
        other = member_access_by_id(actor=actor, member_id=merge_id)
        first, second = sorted([keep.pk, other.pk])
        locked = {m.pk: m for m in Member.objects.select_for_update().filter(pk__in=[first, second]).order_by("pk")}
        keep, other = locked[keep_id], locked[merge_id]
        filled = {}
        for name in ("name", "gender", "birthday", "province", "city", "home_store_id", "email"):
            if getattr(keep, name) in (None, "", Member.Gender.UNKNOWN) and getattr(other, name) not in (None, ""):
                filled[name] = getattr(other, name)
                setattr(keep, name, getattr(other, name))
        for key, value in other.custom_fields.items():
            if key not in keep.custom_fields:
                keep.custom_fields[key] = value
                filled[f"custom_fields.{key}"] = value
        moved_orders = Order.objects.filter(member=other).update(member=keep)
        existing_tags = set(MemberTag.objects.filter(member=keep).values_list("tag_id", flat=True))
        MemberTag.objects.filter(member=other).exclude(tag_id__in=existing_tags).update(member=keep)
        keep.save()
        recompute_stats(keep.pk)
        snapshot = member_payload(other)
        _delete_or_refuse(other)
        changes = {"merged_member": snapshot, "filled": filled, "orders_moved": moved_orders}
        history_record(keep.pk, MemberHistory.Action.MERGED, changes, actor=actor, source=source)
        history_record(other.pk or merge_id, MemberHistory.Action.MERGED, {"into": keep.pk}, actor=actor, source=source)
        audit_record(actor=actor, action="members.member.merge", obj=keep, changes={"merged_id": merge_id})
        event_record(
            "member.merged", {"id": keep.pk, "merged_id": merge_id}, aggregate_type="member", aggregate_id=keep.pk
        )
    keep.refresh_from_db()
    return keep


def member_delete(*, actor: Any, member_id: int, source: str = "") -> None:
    """Delete a member (e.g. on a personal-data deletion request). Orders stay for the books,
    detached from the person; the history keeps the id and who deleted it."""
    check_permission(actor, "members.member.delete")
    with transaction.atomic():
        member = member_access_by_id(actor=actor, member_id=member_id)
        snapshot = {"card_no": member.card_no, "name": member.name}
        pk = member.pk
        _delete_or_refuse(member)
        history_record(pk, "deleted", snapshot, actor=actor, source=source)
        audit_record(
            actor=actor,
            action="members.member.delete",
            object_type="members.member",
            object_id=str(pk),
            object_repr=member.card_no,
        )
        event_record(
            "member.deleted", {"id": pk, "card_no": snapshot["card_no"]}, aggregate_type="member", aggregate_id=pk
        )


def _delete_or_refuse(member: Member) -> None:
    """Ledger entries are the books: a member who holds points, stored value or coupons, or ever
    did, is not deleted out from under them (a clear 409 instead of a crash)."""
    try:
        with transaction.atomic():
            member.delete()
    except ProtectedError as exc:
        raise Conflict(
            _(
                "%(name)s has points, stored-value or coupon records, which the books must keep; "
                "this member cannot be deleted or merged away."
            )
            % {"name": member.name or member.card_no},
            code="MEMBER_HAS_LEDGER",
        ) from exc


def recompute_stats(member_id: int) -> None:
    """Rebuild one member's purchase statistics from their orders (after a merge)."""
    if not stats_rebuild([member_id], rfm=False):  # no orders left at all
        Member.objects.filter(pk=member_id).update(
            order_count=0, total_spend=0, first_purchase_at=None, last_purchase_at=None, lifecycle=Lifecycle.PROSPECT
        )


def member_self_enroll(*, phone: str, name: str = "", channel: str, source: str) -> tuple[Member, bool]:
    """A person signing themself up (the merchant's mini program): the member with this phone, or a
    new one. No staff actor: the phone number came verified from the vendor. Returns (member, created)."""
    try:
        existing = Member.objects.filter(phone=normalize_phone(phone)).first()
    except InvalidPhone:
        existing = None  # reported by the validation below
    if existing is not None:
        return existing, False
    data = {"phone": phone, **({"name": name} if name else {})}
    cleaned, errors = clean_core(data, actor=None)
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        try:
            with transaction.atomic():
                member = Member.objects.create(**cleaned, channel=channel, card_no=next_card_no())
        except IntegrityError:  # the same person signing up twice at once: the other request won
            return Member.objects.get(phone=cleaned["phone"]), False
        history_record(member.pk, MemberHistory.Action.CREATED, cleaned, actor=None, source=source)
        event_record("member.created", member_payload(member), aggregate_type="member", aggregate_id=member.pk)
        pinyin_refresh([member.pk])
    return member, True
