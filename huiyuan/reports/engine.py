"""The report engine: report types in a registry, each taking the same parameters (period,
granularity, stores, tiers) and answering a table with a chart hint. Every type reads within the
caller's stores, from the daily rollups for past days plus today's figures computed live, or from
the member rows (which hold current statistics and balances)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.platform.access import actor_store_ids, check_permission, sees_all_stores
from huiyuan.platform.errors import ValidationFailed
from huiyuan.platform.tenancy import tenant_timezone

GRANULARITIES = ("day", "week", "month")
MAX_DAYS = 3 * 366


@dataclass
class ReportParams:
    start: date
    end: date  # inclusive
    granularity: str = "month"
    store_ids: list[int] | None = None  # None: every store the caller may see
    tiers: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # type-specific: top N, days, dimension…


@dataclass
class ReportResult:
    title: str
    columns: list[tuple[str, str]]  # (key, label)
    rows: list[dict[str, Any]]
    chart: dict[str, Any]  # {"type": "line" | "bar" | "pie" | "table" | "kpi", "x": key, "series": [keys]}
    note: str = ""

    def plain_rows(self) -> list[dict[str, Any]]:
        """The rows as JSON would carry them (decimals and dates as text), for charts and the API."""
        return json.loads(json.dumps(self.rows, default=str))  # type: ignore[no-any-return]


class ReportType:
    key = ""
    label: Any = ""
    description: Any = ""
    extra_params: tuple[str, ...] = ()
    operation = "reports.report.view"

    def run(self, actor: Any, params: ReportParams, scope: Scope) -> ReportResult:
        raise NotImplementedError


REPORT_TYPES: dict[str, ReportType] = {}


def register(report_type: type[ReportType]) -> type[ReportType]:
    REPORT_TYPES[report_type.key] = report_type()
    return report_type


def months_back(first_of_month: date, months: int) -> date:
    index = first_of_month.year * 12 + first_of_month.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def today() -> date:
    return timezone.now().astimezone(tenant_timezone()).date()


@dataclass(frozen=True)
class Scope:
    """The stores a report covers: ``None`` for all (HQ with no store chosen), else a list."""

    store_ids: list[int] | None

    def sql(self, column: str) -> tuple[str, list[Any]]:
        """A WHERE fragment limiting ``column`` to the scope (and its parameters)."""
        if self.store_ids is None:
            return "TRUE", []
        return f"{column} = ANY(%s)", [self.store_ids]


def resolve_scope(actor: Any, requested: Iterable[int] | None) -> Scope:
    """The caller's stores, narrowed to those asked for; asking for another store narrows to
    nothing rather than widening."""
    wanted = set(requested) if requested else None
    if sees_all_stores(actor):
        return Scope(sorted(wanted) if wanted is not None else None)
    own = actor_store_ids(actor)
    return Scope(sorted(own & wanted if wanted is not None else own))


def clean_params(raw: dict[str, Any]) -> ReportParams:
    """Parameters from a form or JSON, each problem named by field."""
    errors: dict[str, list[str]] = {}
    end = today()
    start = months_back(end.replace(day=1), 11)  # the last twelve months, this one included
    values: dict[str, date] = {}
    for name, default in (("start", start), ("end", end)):
        text = str(raw.get(name) or "").strip()
        if not text:
            values[name] = default
            continue
        try:
            values[name] = date.fromisoformat(text)
        except ValueError:
            errors[name] = [_("Enter a date such as 2026-03-08.")]
    granularity = str(raw.get("granularity") or "month")
    if granularity not in GRANULARITIES:
        errors["granularity"] = [_("Choose day, week or month.")]
    if not errors and values["start"] > values["end"]:
        errors["start"] = [_("The start comes after the end.")]
    if not errors and (values["end"] - values["start"]).days > MAX_DAYS:
        errors["start"] = [_("At most three years at a time.")]
    stores = raw.get("stores") or []
    if isinstance(stores, str):
        stores = [s for s in stores.split(",") if s.strip()]
    try:
        store_ids = [int(s) for s in stores] or None
    except (TypeError, ValueError):
        errors["stores"] = [_("Choose stores from the list.")]
        store_ids = None
    tiers = raw.get("tiers") or []
    if isinstance(tiers, str):
        tiers = [t for t in tiers.split(",") if t.strip()]
    if errors:
        raise ValidationFailed(fields=errors)
    extra = {k: v for k, v in raw.items() if k not in ("start", "end", "granularity", "stores", "tiers")}
    return ReportParams(
        start=values["start"],
        end=values["end"],
        granularity=granularity,
        store_ids=store_ids,
        tiers=[str(t) for t in tiers],
        extra=extra,
    )


def report_run(*, actor: Any, key: str, params: ReportParams) -> ReportResult:
    report_type = REPORT_TYPES.get(key)
    if report_type is None:
        raise ValidationFailed(fields={"report": [_("Unknown report.")]})
    check_permission(actor, report_type.operation)
    return report_type.run(actor, params, resolve_scope(actor, params.store_ids))


# ---- shared reads --------------------------------------------------------------------------------
def fetch(sql: str, params: list[Any] | dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def period_key(day: date, granularity: str) -> date:
    if granularity == "month":
        return day.replace(day=1)
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    return day


def periods(start: date, end: date, granularity: str) -> list[date]:
    keys: list[date] = []
    day = start
    while day <= end:
        key = period_key(day, granularity)
        if not keys or keys[-1] != key:
            keys.append(key)
        day += timedelta(days=1)
    return keys


def daily_figures(scope: Scope, start: date, end: date, columns: list[str]) -> dict[date, dict[str, Any]]:
    """Per local day, the summed rollup columns within the scope: past days from ``DailyStats``,
    today (if in range) computed live from the source tables, so figures are current."""
    from .rollups import COLUMNS, _bounds, _union_sql

    assert all(c in COLUMNS for c in columns)
    where, args = scope.sql("store_id")
    sums = ", ".join(f"coalesce(sum({c}), 0)" for c in columns)
    result: dict[date, dict[str, Any]] = {}
    last_rolled = min(end, today() - timedelta(days=1))
    if start <= last_rolled:
        rows = fetch(
            f"SELECT day, {sums} FROM reports_dailystats WHERE day BETWEEN %s AND %s AND {where} GROUP BY day",
            [start, last_rolled, *args],
        )
        for day, *values in rows:
            result[day] = dict(zip(columns, values, strict=True))
    if end >= today() >= start:
        live = _bounds(today(), today())
        sql = f"SELECT day, {sums} FROM ({_union_sql()}) u WHERE {where.replace('%s', '%(scope)s')} GROUP BY day"
        for day, *values in fetch(sql, {**live, "scope": args[0] if args else None}):
            result[day] = dict(zip(columns, values, strict=True))
    return result


def series(scope: Scope, params: ReportParams, columns: list[str]) -> list[dict[str, Any]]:
    """The rollup columns summed per period of the chosen granularity, zero-filled."""
    daily = daily_figures(scope, params.start, params.end, columns)
    rows = {key: dict.fromkeys(columns, 0) for key in periods(params.start, params.end, params.granularity)}
    for day, values in daily.items():
        bucket = rows[period_key(day, params.granularity)]
        for column in columns:
            bucket[column] += values[column] or 0
    return [{"period": key.isoformat(), **values} for key, values in rows.items()]


def member_where(scope: Scope, params: ReportParams, alias: str = "m") -> tuple[str, list[Any]]:
    """Members within the scope and the chosen tiers."""
    where, args = scope.sql(f"{alias}.home_store_id")
    if params.tiers:
        where += f" AND {alias}.tier_id IN (SELECT id FROM loyalty_tier WHERE name = ANY(%s))"
        args = [*args, params.tiers]
    return where, args


def ratio(part: Any, whole: Any, places: int = 1) -> Decimal | None:
    if not whole:
        return None
    return round(Decimal(part) * 100 / Decimal(whole), places)
