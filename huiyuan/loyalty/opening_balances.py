"""Opening balances: points (with their original expiry), stored value (principal and bonus),
tier and unused coupons per member, from the merchant's old system as CSV / XLSX.

A dry run validates every row and shows the totals that would be loaded; nothing is written. The
real run writes through the ledgers with one key per member and kind (``opening:points:<id>``…),
so loading the same file twice loads nothing twice, and a row whose amount differs from what was
already loaded is reported instead of adding to it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.members.fields.base import is_blank
from huiyuan.members.imports import RowError, cell_text, norm_header
from huiyuan.members.models import Member
from huiyuan.members.parsing import parse_datetime, parse_decimal, parse_int
from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.phones import InvalidPhone, normalize_phone
from huiyuan.platform.tenancy import tenant_timezone

from .coupons import coupon_issue
from .exceptions import CouponNotUsable, CouponOutOfStock, LedgerKeyConflict
from .ledger import points_earn, stored_value_topup
from .models import Cause, CouponTemplate, Tier, TierChange

TARGETS: dict[str, tuple[str, ...]] = {
    "phone": ("手机", "手机号", "手机号码", "电话", "mobile", "phone"),
    "card_no": ("卡号", "会员卡号", "会员号", "card", "cardno"),
    "points": ("积分", "积分余额", "可用积分", "points", "pointsbalance"),
    "points_expire_at": ("积分到期", "积分到期日", "到期日期", "积分有效期", "pointsexpiry", "expiresat"),
    "principal": ("储值余额", "本金", "储值本金", "余额", "principal", "balance", "storedvalue"),
    "bonus": ("赠送余额", "赠送金", "赠金", "bonus"),
    "tier": ("等级", "会员等级", "级别", "tier", "level"),
    "coupon": ("优惠券", "券", "coupon"),
    "coupon_count": ("张数", "券数量", "优惠券张数", "couponcount"),
}


def suggest_mapping(headers: list[str]) -> dict[str, str]:
    aliases = {norm_header(n): t for t, names in TARGETS.items() for n in (t, *names)}
    mapping, used = {}, set()
    for header in headers:
        target = aliases.get(norm_header(header), "")
        mapping[header] = "" if target in used else target
        used.add(target)
    return mapping


@dataclass
class _Row:
    row: int
    member: Member
    points: int = 0
    points_expire_at: Any = None
    principal: Decimal = Decimal(0)
    bonus: Decimal = Decimal(0)
    tier: Tier | None = None
    coupon: CouponTemplate | None = None
    coupon_count: int = 0


@dataclass
class OpeningOutcome:
    dry_run: bool
    members: int = 0
    points: int = 0
    principal: Decimal = Decimal(0)
    bonus: Decimal = Decimal(0)
    tiers: dict[str, int] = field(default_factory=dict)
    coupons: int = 0
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "members": self.members,
            "points": self.points,
            "principal": str(self.principal),
            "bonus": str(self.bonus),
            "tiers": self.tiers,
            "coupons": self.coupons,
            "errors": [e.as_dict() for e in self.errors],
        }


def opening_balances_import(*, actor: Any, table: Any, mapping: dict[str, str], dry_run: bool) -> OpeningOutcome:
    check_permission(actor, "loyalty.balance.adjust")
    outcome = OpeningOutcome(dry_run=dry_run)
    col = {t: table.headers.index(h) for h, t in mapping.items() if t and h in table.headers}
    if "phone" not in col and "card_no" not in col:
        outcome.errors.append(RowError(1, "", "", _("Map a column to the member's phone or card number.")))
        return outcome
    rows = _parse(table, col, outcome)
    if not dry_run and not outcome.errors:
        with transaction.atomic():
            _load(actor, rows, outcome)
            audit_record(
                actor=actor,
                action="loyalty.opening_balances.import",
                changes={k: v for k, v in outcome.as_dict().items() if k != "errors"},
            )
    elif not dry_run:
        outcome.errors.insert(0, RowError(0, "", "", _("Nothing was loaded: correct the rows below and run again.")))
    for item in rows:
        outcome.members += 1
        outcome.points += item.points
        outcome.principal += item.principal
        outcome.bonus += item.bonus
        outcome.coupons += item.coupon_count if item.coupon else 0
        if item.tier:
            outcome.tiers[item.tier.name] = outcome.tiers.get(item.tier.name, 0) + 1
    return outcome


def _parse(table: Any, col: dict[str, int], outcome: OpeningOutcome) -> list[_Row]:
    tiers = {t.name: t for t in Tier.objects.all()}
    templates = {t.name: t for t in CouponTemplate.objects.filter(active=True)}
    tz = tenant_timezone()
    parsed: list[_Row] = []
    seen: dict[int, int] = {}
    for offset, raw_row in enumerate(table.rows):
        if not raw_row:
            continue
        number = table.first_row + offset
        cells = {t: raw_row[i] for t, i in col.items()}
        errors: list[RowError] = []

        def fail(target: str, reason: str, cells: dict[str, Any] = cells, number: int = number) -> None:
            errors.append(RowError(number, table.headers[col[target]], cell_text(cells.get(target)), reason))  # noqa: B023

        member = None
        if not is_blank(cells.get("card_no")):
            member = Member.objects.filter(card_no=cell_text(cells["card_no"]).strip()).first()
        if member is None and not is_blank(cells.get("phone")):
            with contextlib.suppress(InvalidPhone):
                member = Member.objects.filter(phone=normalize_phone(cells["phone"])).first()
        if member is None:
            fail("phone" if "phone" in col else "card_no", _("No member with this phone or card number."))
            outcome.errors.extend(errors)
            continue
        item = _Row(row=number, member=member)
        for target, parse, attr in (
            ("points", parse_int, "points"),
            ("coupon_count", parse_int, "coupon_count"),
            ("principal", parse_decimal, "principal"),
            ("bonus", parse_decimal, "bonus"),
        ):
            if is_blank(cells.get(target)):
                continue
            try:
                value = parse(cells[target])
            except (ValueError, ArithmeticError):
                fail(target, _("Not a number."))
                continue
            if value < 0 or (isinstance(value, Decimal) and value != value.quantize(Decimal("0.01"))):
                fail(target, _("A positive amount with at most two decimals."))
                continue
            setattr(item, attr, value)
        if not is_blank(cells.get("points_expire_at")):
            try:
                item.points_expire_at = parse_datetime(cells["points_expire_at"], tz)
            except ValueError:
                fail("points_expire_at", _("Not a date; use e.g. 2026-12-31."))
            else:
                if item.points_expire_at <= timezone.now():
                    fail("points_expire_at", _("Already expired: leave these points out."))
        if not is_blank(cells.get("tier")):
            item.tier = tiers.get(cell_text(cells["tier"]).strip())
            if item.tier is None:
                fail("tier", _("No tier with this name; create it first."))
        if not is_blank(cells.get("coupon")):
            item.coupon = templates.get(cell_text(cells["coupon"]).strip())
            if item.coupon is None:
                fail("coupon", _("No active coupon template with this name."))
            item.coupon_count = item.coupon_count or 1
        if member.pk in seen:
            fail(
                "phone" if "phone" in col else "card_no",
                _("Same member as row %(n)d; only the first is loaded.") % {"n": seen[member.pk]},
            )
        seen.setdefault(member.pk, number)
        if errors:
            outcome.errors.extend(errors)
        else:
            parsed.append(item)
    return parsed


def _load(actor: Any, rows: list[_Row], outcome: OpeningOutcome) -> None:
    for item in rows:
        member_id = item.member.pk
        try:
            if item.points:
                points_earn(
                    member_id=member_id,
                    amount=item.points,
                    idempotency_key=f"opening:points:{member_id}",
                    cause=Cause.IMPORT,
                    reason=_("Opening balance"),
                    actor=actor,
                    **({"expires_at": item.points_expire_at} if item.points_expire_at else {}),
                )
            if item.principal or item.bonus:
                if item.principal <= 0:
                    raise LedgerKeyConflict(_("A bonus needs a principal beside it."))
                stored_value_topup(
                    member_id=member_id,
                    principal=item.principal,
                    bonus=item.bonus,
                    idempotency_key=f"opening:sv:{member_id}",
                    cause=Cause.IMPORT,
                    reason=_("Opening balance"),
                    actor=actor,
                )
        except LedgerKeyConflict as exc:
            outcome.errors.append(RowError(item.row, "", "", str(exc.message)))
            continue
        if item.tier is not None and item.member.tier_id != item.tier.pk:
            TierChange.objects.create(
                member=item.member,
                from_tier_id=item.member.tier_id,
                to_tier=item.tier,
                reason="opening balance import",
                qualifying_spend=item.member.total_spend,
            )
            Member.objects.filter(pk=member_id).update(tier=item.tier, tier_since=timezone.now())
        if item.coupon is not None:
            for n in range(item.coupon_count):
                try:
                    coupon_issue(
                        template_id=item.coupon.pk,
                        member_id=member_id,
                        actor=actor,
                        idempotency_key=f"opening:coupon:{item.coupon.pk}:{member_id}:{n}",
                    )
                except (CouponNotUsable, CouponOutOfStock) as exc:
                    outcome.errors.append(RowError(item.row, "coupon", item.coupon.name, str(exc.message)))
                    break
