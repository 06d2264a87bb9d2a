"""What a checkout reads, in one statement: the tenant's loyalty and member settings, tiers and
earn rules, the store, the member (locked when the caller asks), the member's spend over each
tier window and any order already recorded under the number (decision record 004)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from huiyuan.members.models import Member, MemberSettings, Store
from huiyuan.platform.phones import InvalidPhone, normalize_phone
from huiyuan.platform.sql import fetch_one_prepared

from .ledger import loyalty_settings
from .models import EarnRule, LoyaltySettings, Tier


@dataclass(frozen=True)
class Snapshot:
    """Everything a checkout reads, from one statement: the tenant's loyalty configuration, the
    store, the member (locked when committing), their spend over each tier window and any order
    already recorded under this number."""

    settings: LoyaltySettings
    member_settings: MemberSettings
    tiers: list[Tier]
    rules: list[EarnRule]
    store: Store | None
    member: Member | None
    window_spend: dict[int, Decimal]  # tier window in days -> spend, this order not included
    existing_order: tuple[int, str, dict[str, Any]] | None  # id, request hash, benefits


GUARDED_MEMBER_FIELDS = (
    "updated_at",
    "order_count",
    "total_spend",
    "points_balance",
    "stored_principal",
    "stored_bonus",
    "tier_id",
)
_MEMBER_FIELDS = {
    *GUARDED_MEMBER_FIELDS,
    "id",
    "tier_id",
    "tier_since",
    "birthday",
    "points_balance",
    "stored_principal",
    "stored_bonus",
    "order_count",
    "total_spend",
    "first_purchase_at",
    "last_purchase_at",
}
# In model order: ``Model.from_db`` matches a partial row to the fields by position.
_MEMBER_COLUMNS = [f.attname for f in Member._meta.concrete_fields if f.attname in _MEMBER_FIELDS]

_SNAPSHOT_SQL = """
WITH m AS (SELECT {columns} FROM members_member WHERE {member_filter} {lock})
SELECT
    (SELECT row_to_json(s)::text FROM loyalty_loyaltysettings s ORDER BY s.id LIMIT 1),
    (SELECT row_to_json(s)::text FROM members_membersettings s ORDER BY s.id LIMIT 1),
    (SELECT coalesce(json_agg(t ORDER BY t.rank), '[]')::text FROM loyalty_tier t),
    (SELECT coalesce(json_agg(r ORDER BY r.id), '[]')::text FROM loyalty_earnrule r WHERE r.active),
    -- in model field order: Model.from_db matches a partial row by position
    (SELECT json_build_array(s.id, s.code, s.status)::text FROM members_store s
        WHERE upper(s.code) = upper(%(store)s) OR s.id = %(store_id)s
        ORDER BY upper(s.code) = upper(%(store)s) DESC LIMIT 1),
    (SELECT json_build_array(o.id, o.request_hash, o.benefits)::text FROM members_order o
        WHERE o.order_no = %(order_no)s),
    (SELECT coalesce(json_object_agg(w.days, (
            SELECT coalesce(sum(o.paid_amount - o.refunded_amount), 0) FROM members_order o
            WHERE o.member_id = m.id AND o.paid_at >= %(now)s - make_interval(days => w.days))), '{{}}')::text
        FROM (SELECT DISTINCT window_days AS days FROM loyalty_tier WHERE window_days IS NOT NULL) w),
    {m_columns}
FROM (VALUES (1)) AS one LEFT JOIN m ON true
"""


def _json(raw: str | None) -> Any:
    # Read as text and decoded here so that numbers stay exact Decimals (rates, thresholds, money).
    return json.loads(raw, parse_float=Decimal) if raw is not None else None


def _member_filter(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ref = data.get("member") or {}
    if not isinstance(ref, dict):
        return "false", {}
    if ref.get("id") not in (None, ""):
        return ("id = %(member_id)s", {"member_id": int(ref["id"])}) if str(ref["id"]).isdecimal() else ("false", {})
    if ref.get("card_no") not in (None, ""):
        return "card_no = %(card_no)s", {"card_no": str(ref["card_no"]).strip()}
    if ref.get("phone") not in (None, ""):
        try:
            return "phone = %(phone)s", {"phone": normalize_phone(ref["phone"])}
        except InvalidPhone:
            return "false", {}
    return "false", {}


@functools.cache
def _snapshot_sql(member_filter: str, lock: bool) -> str:
    """A handful of texts (by the member reference's kind, locked or not), built once per process."""
    return _SNAPSHOT_SQL.format(
        columns=", ".join(_MEMBER_COLUMNS),
        member_filter=member_filter,
        lock="FOR UPDATE" if lock else "",
        m_columns=", ".join(f"m.{c}" for c in _MEMBER_COLUMNS),
    )


def load_snapshot(data: dict[str, Any], *, lock: bool, now: datetime) -> Snapshot:
    """One round trip for everything checkout needs to price and record an order. With ``lock``
    the member row stays locked until the transaction ends, so concurrent orders, spends and
    top-ups of one member run one after another."""
    member_filter, params = _member_filter(data)
    store_ref = str(data.get("store") or "").strip()
    params |= {
        "store": store_ref,
        "store_id": int(store_ref) if store_ref.isdecimal() else None,
        "order_no": str(data.get("order_no") or "").strip(),
        "now": now,
    }
    row = fetch_one_prepared(_snapshot_sql(member_filter, lock), params)
    assert row is not None
    settings, member_settings, tiers, rules = _configuration(row[:4])
    store_row, order_row, spend = map(_json, row[4:7])
    member_values = row[7:]
    member = None
    if member_values[0] is not None:
        member = Member.from_db(connection.alias, _MEMBER_COLUMNS, list(member_values))
        member.tier = next((t for t in tiers if t.pk == member.tier_id), None)
    return Snapshot(
        settings=settings,
        member_settings=member_settings,
        tiers=tiers,
        rules=rules,
        store=Store.from_db(connection.alias, ["id", "code", "status"], store_row) if store_row else None,
        member=member,
        window_spend={int(days): Decimal(value) for days, value in (spend or {}).items()},
        existing_order=(order_row[0], order_row[1], order_row[2] or {}) if order_row else None,
    )


Configuration = tuple[LoyaltySettings, MemberSettings, list[Tier], list[EarnRule]]
_configurations: dict[tuple[str | None, ...], Configuration] = {}


def _configuration(texts: tuple[str | None, ...]) -> Configuration:
    """The tenant's configuration as read with the snapshot. Parsed objects are reused while the
    text read is the same (they are only read), so a change shows in the very next checkout."""
    if (cached := _configurations.get(texts)) is not None:
        return cached
    settings_row, member_settings_row, tier_rows, rule_rows = map(_json, texts)
    config = (
        LoyaltySettings(**settings_row) if settings_row else loyalty_settings(),
        member_settings_from(member_settings_row),
        [Tier(**t) for t in tier_rows],
        [EarnRule(**{**r, "created_at": None}) for r in rule_rows],
    )
    if settings_row is None or member_settings_row is None:
        return config  # a new tenant's rows were just created: read them next time
    if len(_configurations) > 1000:
        _configurations.clear()
    _configurations[texts] = config
    return config


def member_settings_from(row: dict[str, Any] | None) -> MemberSettings:
    from huiyuan.members.stats import member_settings

    if not row:
        return member_settings()
    return MemberSettings(**{k: v for k, v in row.items() if k != "updated_at"})
