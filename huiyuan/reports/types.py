"""The built-in report types. Each is one small class: what it asks, one or two queries, a table
and a chart hint. Member figures read the member rows (current statistics and balances); flows
over time read the daily and monthly rollups plus today live (``engine.series``)."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.members.models import Lifecycle, Member
from huiyuan.platform.tenancy import tenant_timezone

from .engine import (
    ReportParams,
    ReportResult,
    ReportType,
    Scope,
    fetch,
    member_where,
    period_key,
    periods,
    ratio,
    register,
    series,
    today,
)


def _int(extra: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(extra.get(name) or default)
    except (TypeError, ValueError):
        value = default
    return max(low, min(high, value))


@register
class Kpis(ReportType):
    key = "kpis"
    label = gettext_lazy("Key figures")
    description = gettext_lazy(
        "Members, new this month, active share, repurchase, average order value, stored value owed."
    )

    def run(self, actor: Any, params: ReportParams, scope: Scope) -> ReportResult:
        where, args = member_where(scope, params)
        now = today()
        month_start = now.replace(day=1)
        ((total, new, active, principal, bonus),) = fetch(
            f"""SELECT count(*), count(*) FILTER (WHERE m.created_at >= %s),
                       count(*) FILTER (WHERE m.last_purchase_at >= now() - interval '30 days'),
                       coalesce(sum(m.stored_principal), 0), coalesce(sum(m.stored_bonus), 0)
                  FROM members_member m WHERE {where}""",
            [_local_midnight(month_start), *args],
        )
        month = series(scope, ReportParams(month_start, now, "month"), ["orders", "sales"])
        orders, sales = (month[0]["orders"], month[0]["sales"]) if month else (0, Decimal(0))
        repeat = _repurchase(scope, params, month_start, now)
        rows = [
            {"key": "members", "label": _("Members"), "value": total},
            {"key": "new", "label": _("New this month"), "value": new},
            {"key": "active", "label": _("Bought in the last 30 days"), "value": ratio(active, total), "unit": "%"},
            {"key": "repurchase", "label": _("Repurchase rate this month"), "value": repeat, "unit": "%"},
            {
                "key": "aov",
                "label": _("Average order value this month"),
                "value": round(Decimal(sales) / orders, 2) if orders else None,
                "unit": "¥",
            },
            {"key": "owed", "label": _("Stored value owed"), "value": principal + bonus, "unit": "¥"},
        ]
        return ReportResult(
            title=str(self.label),
            columns=[("label", _("Figure")), ("value", _("Value"))],
            rows=rows,
            chart={"type": "kpi"},
        )


def _local_midnight(day: Any) -> Any:
    return datetime.combine(day, time.min, tzinfo=tenant_timezone())


def _repurchase(scope: Scope, params: ReportParams, start: Any, end: Any) -> Decimal | None:
    """Members with two or more orders in the months of the period / members with one or more."""
    where, args = scope.sql("mm.store_id")
    tiers = ""
    if params.tiers:
        tiers = (
            " AND mm.member_id IN (SELECT id FROM members_member"
            " WHERE tier_id IN (SELECT id FROM loyalty_tier WHERE name = ANY(%s)))"
        )
        args = [*args, params.tiers]
    ((buyers, repeaters),) = fetch(
        f"""SELECT count(*), count(*) FILTER (WHERE n >= 2) FROM (
              SELECT mm.member_id, sum(mm.orders) AS n FROM reports_membermonth mm
               WHERE mm.month BETWEEN %s AND %s AND {where}{tiers} GROUP BY mm.member_id) t""",
        [start.replace(day=1), end, *args],
    )
    return ratio(repeaters, buyers)


@register
class Growth(ReportType):
    key = "growth"
    label = gettext_lazy("Member growth")
    description = gettext_lazy("New members per period and the total at the end of each.")

    def run(self, actor: Any, params: ReportParams, scope: Scope) -> ReportResult:
        where, args = member_where(scope, params)
        ((before,),) = fetch(
            f"SELECT count(*) FROM members_member m WHERE m.created_at < %s AND {where}",
            [_local_midnight(params.start), *args],
        )
        if params.tiers:  # rollups are per store, not per tier: count these members directly
            rows = fetch(
                f"""SELECT (m.created_at AT TIME ZONE %s)::date, count(*) FROM members_member m
                     WHERE m.created_at >= %s AND m.created_at < %s AND {where} GROUP BY 1""",
                [
                    str(tenant_timezone()),
                    _local_midnight(params.start),
                    _local_midnight(params.end + timedelta(days=1)),
                    *args,
                ],
            )
            buckets = dict.fromkeys(periods(params.start, params.end, params.granularity), 0)
            for day, count in rows:
                buckets[period_key(day, params.granularity)] += count
            data = [{"period": k.isoformat(), "new_members": v} for k, v in buckets.items()]
        else:
            data = series(scope, params, ["new_members"])
        total = before
        for row in data:
            total += row["new_members"]
            row["total"] = total
        return ReportResult(
            title=str(self.label),
            columns=[("period", _("Period")), ("new_members", _("New members")), ("total", _("Members in total"))],
            rows=data,
            chart={"type": "line", "x": "period", "series": ["new_members", "total"]},
        )


@register
class Sales(ReportType):
    key = "sales"
    label = gettext_lazy("Sales and orders")
    description = gettext_lazy("Orders, sales, refunds and average order value per period.")

    def run(self, actor: Any, params: ReportParams, scope: Scope) -> ReportResult:
        data = series(scope, params, ["orders", "sales", "refunds"])
        for row in data:
            row["aov"] = round(Decimal(row["sales"]) / row["orders"], 2) if row["orders"] else None
        return ReportResult(
            title=str(self.label),
            columns=[
                ("period", _("Period")),
                ("orders", _("Orders")),
                ("sales", _("Sales (¥)")),
                ("refunds", _("Refunds (¥)")),
                ("aov", _("Average order value (¥)")),
            ],
            rows=data,
            chart={"type": "bar", "x": "period", "series": ["sales"]},
        )


@register
class Activity(ReportType):
    key = "activity"
    label = gettext_lazy("Purchase frequency and repurchase")
    description = gettext_lazy(
        "How many members bought once, twice, three times… in the period, and the repurchase rate."
    )

    def run(self, actor: Any, params: ReportParams, scope: Scope) -> ReportResult:
        where, args = scope.sql("mm.store_id")
        rows = fetch(
            f"""SELECT CASE WHEN n = 1 THEN '1' WHEN n = 2 THEN '2' WHEN n = 3 THEN '3' WHEN n <= 5 THEN '4–5'
                            WHEN n <= 10 THEN '6–10' ELSE '11+' END AS bucket, count(*)
                  FROM (SELECT mm.member_id, sum(mm.orders) AS n FROM reports_membermonth mm
                         WHERE mm.month BETWEEN %s AND %s AND {where} GROUP BY mm.member_id) t
                 GROUP BY 1""",
            [params.start.replace(day=1), params.end, *args],
        )
        counts = dict(rows)
        buyers = sum(counts.values())
        data = [
            {"orders": bucket, "members": counts.get(bucket, 0), "share": ratio(counts.get(bucket, 0), buyers)}
            for bucket in ("1", "2", "3", "4–5", "6–10", "11+")
        ]
        repeat = _repurchase(scope, params, params.start, params.end)
        return ReportResult(
            title=str(self.label),
            columns=[("orders", _("Orders in the period")), ("members", _("Members")), ("share", _("Share (%)"))],
            rows=data,
            chart={"type": "bar", "x": "orders", "series": ["members"]},
            note=_("Repurchase rate: %(rate)s%% of buying members bought twice or more (whole months of the period).")
            % {"rate": repeat if repeat is not None else "—"},
        )


@register
class TierMix(ReportType):
    key = "tier_mix"
    label = gettext_lazy("Tier distribution")
    description = gettext_lazy("Members per tier now, with their spend.")

    def run(self, actor: Any, params: ReportParams, scope: Scope) -> ReportResult:
        where, args = member_where(scope, params)
        rows = fetch(
            f"""SELECT coalesce(t.name, ''), count(*), coalesce(sum(m.total_spend), 0)
                  FROM members_member m LEFT JOIN loyalty_tier t ON t.id = m.tier_id
                 WHERE {where} GROUP BY t.name, t.rank ORDER BY t.rank NULLS FIRST""",
            args,
        )
        total = sum(count for _name, count, _spend in rows)
        data = [
            {"tier": name or _("No tier"), "members": count, "share": ratio(count, total), "spend": spend}
            for name, count, spend in rows
        ]
        return ReportResult(
            title=str(self.label),
            columns=[
                ("tier", _("Tier")),
                ("members", _("Members")),
                ("share", _("Share (%)")),
                ("spend", _("Total spend (¥)")),
            ],
            rows=data,
            chart={"type": "pie", "x": "tier", "series": ["members"]},
        )


@register
class TopSpenders(ReportType):
    key = "top_spenders"
    label = gettext_lazy("Top spenders")
    description = gettext_lazy("The members who spent most, all time.")
    extra_params = ("top",)

    def run(self, actor: Any, params: ReportParams, scope: Scope) -> ReportResult:
        from huiyuan.members.selectors import visible_phone

        top = _int(params.extra, "top", 10, 1, 100)
        where, args = member_where(scope, params)
        ids = [
            row[0]
            for row in fetch(
                f"SELECT m.id FROM members_member m WHERE {where} ORDER BY m.total_spend DESC, m.id LIMIT %s",
                [*args, top],
            )
        ]
        members = {m.pk: m for m in Member.objects.filter(pk__in=ids).select_related("tier", "home_store")}
        data = [
            {
                "member": members[pk].name or members[pk].card_no,
                "member_id": pk,
                "phone": visible_phone(actor, members[pk], for_display=True),
                "tier": getattr(members[pk].tier, "name", ""),
                "store": getattr(members[pk].home_store, "name", ""),
                "orders": members[pk].order_count,
                "spend": members[pk].total_spend,
            }
            for pk in ids
        ]
        return ReportResult(
            title=str(self.label),
            columns=[
                ("member", _("Member")),
                ("phone", _("Phone")),
                ("tier", _("Tier")),
                ("store", _("Home store")),
                ("orders", _("Orders")),
                ("spend", _("Total spend (¥)")),
            ],
            rows=data,
            chart={"type": "bar", "x": "member", "series": ["spend"]},
        )


@register
class Pareto(ReportType):
    key = "pareto"
    label = gettext_lazy("Sales concentration (80/20)")
    description = gettext_lazy("Share of all spend from the top 10%, 20%… of members who bought.")

    def run(self, actor: Any, params: ReportParams, scope: Scope) -> ReportResult:
        where, args = member_where(scope, params)
        rows = fetch(
            f"""SELECT decile, sum(total_spend) FROM (
                  SELECT m.total_spend,
                         ceil(row_number() OVER (ORDER BY m.total_spend DESC) * 10.0 / count(*) OVER ())::int AS decile
                    FROM members_member m WHERE m.order_count > 0 AND {where}) t
                 GROUP BY decile ORDER BY decile""",
            args,
        )
        total = sum((spend for _d, spend in rows), Decimal(0))
        data, running = [], Decimal(0)
        for decile, spend in rows:
            running += spend
            data.append({"top": f"{decile * 10}%", "spend": spend, "cumulative_share": ratio(running, total)})
        top20 = next((row["cumulative_share"] for row in data if row["top"] == "20%"), None)
        return ReportResult(
            title=str(self.label),
            columns=[
                ("top", _("Top members")),
                ("spend", _("Their spend (¥)")),
                ("cumulative_share", _("Share of all spend (%)")),
            ],
            rows=data,
            chart={"type": "line", "x": "top", "series": ["cumulative_share"]},
            note=_("The top 20%% of buying members brought %(share)s%% of spend.")
            % {"share": top20 if top20 is not None else "—"},
        )


@register
class RfmGrid(ReportType):
    key = "rfm"
    label = gettext_lazy("RFM grid")
    description = gettext_lazy("Members and spend per recency and frequency score (5 = best).")

    def run(self, actor: Any, params: ReportParams, scope: Scope) -> ReportResult:
        where, args = member_where(scope, params)
        rows = fetch(
            f"""SELECT m.r_score, m.f_score, count(*), coalesce(sum(m.total_spend), 0) FROM members_member m
                 WHERE m.r_score > 0 AND {where} GROUP BY 1, 2 ORDER BY 1 DESC, 2 DESC""",
            args,
        )
        data = [{"r": r, "f": f, "members": n, "spend": spend} for r, f, n, spend in rows]
        return ReportResult(
            title=str(self.label),
            columns=[
                ("r", _("Recency score")),
                ("f", _("Frequency score")),
                ("members", _("Members")),
                ("spend", _("Total spend (¥)")),
            ],
            rows=data,
            chart={"type": "heatmap", "x": "r", "y": "f", "series": ["members"]},
        )


@register
class LifecycleStages(ReportType):
    key = "lifecycle"
    label = gettext_lazy("Lifecycle stages")
    description = gettext_lazy("Members per stage now (no purchase yet, new, active, at risk, dormant, lost).")

    def run(self, actor: Any, params: ReportParams, scope: Scope) -> ReportResult:
        where, args = member_where(scope, params)
        counts = dict(fetch(f"SELECT m.lifecycle, count(*) FROM members_member m WHERE {where} GROUP BY 1", args))
        total = sum(counts.values())
        data = [
            {"stage": str(label), "members": counts.get(value, 0), "share": ratio(counts.get(value, 0), total)}
            for value, label in Lifecycle.choices
        ]
        return ReportResult(
            title=str(self.label),
            columns=[("stage", _("Lifecycle stage")), ("members", _("Members")), ("share", _("Share (%)"))],
            rows=data,
            chart={"type": "pie", "x": "stage", "series": ["members"]},
        )


@register
class Loyalty(ReportType):
    key = "loyalty"
    label = gettext_lazy("Points, stored value and coupons")
    description = gettext_lazy("Points issued, redeemed and expired; stored value in and out; coupons issued and used.")

    def run(self, actor: Any, params: ReportParams, scope: Scope) -> ReportResult:
        columns = [
            "points_issued",
            "points_redeemed",
            "points_expired",
            "stored_principal_in",
            "stored_bonus_in",
            "stored_principal_out",
            "stored_bonus_out",
            "coupons_issued",
            "coupons_redeemed",
        ]
        data = series(scope, params, columns)
        where, args = member_where(scope, params)
        ((points, principal, bonus),) = fetch(
            f"""SELECT coalesce(sum(m.points_balance), 0), coalesce(sum(m.stored_principal), 0),
                       coalesce(sum(m.stored_bonus), 0) FROM members_member m WHERE {where}""",
            args,
        )
        return ReportResult(
            title=str(self.label),
            columns=[
                ("period", _("Period")),
                ("points_issued", _("Points issued")),
                ("points_redeemed", _("Points redeemed")),
                ("points_expired", _("Points expired")),
                ("stored_principal_in", _("Stored value paid in (¥)")),
                ("stored_bonus_in", _("Bonus given (¥)")),
                ("stored_principal_out", _("Stored value spent (¥)")),
                ("stored_bonus_out", _("Bonus spent (¥)")),
                ("coupons_issued", _("Coupons issued")),
                ("coupons_redeemed", _("Coupons used")),
            ],
            rows=data,
            chart={"type": "bar", "x": "period", "series": ["points_issued", "points_redeemed", "points_expired"]},
            note=_("Owed now: %(points)s points; stored value ¥%(principal)s paid in and ¥%(bonus)s bonus.")
            % {"points": points, "principal": principal, "bonus": bonus},
        )


@register
class CampaignEffect(ReportType):
    key = "campaign"
    label = gettext_lazy("Campaign effect")
    description = gettext_lazy(
        "Members reached against the hold-out group: buyers, sales and the uplift with its 95% interval."
    )
    extra_params = ("campaign",)
    operation = "automation.rule.manage"

    def run(self, actor: Any, params: ReportParams, scope: Scope) -> ReportResult:
        from huiyuan.automation.campaigns import campaign_effect
        from huiyuan.automation.models import Campaign
        from huiyuan.platform.errors import ValidationFailed

        campaign_id = str(params.extra.get("campaign") or "")
        campaign = Campaign.objects.filter(pk=int(campaign_id)).first() if campaign_id.isdecimal() else None
        if campaign is None:
            raise ValidationFailed(fields={"campaign": [_("Choose a campaign.")]})
        effect = campaign_effect(campaign)
        data = []
        for name, label in (("reached", _("Reached")), ("holdout", _("Held out"))):
            group = effect.get(name) or {"members": 0, "buyers": 0, "sales": 0, "rate": None}
            data.append({"group": label, **group})
        note = ""
        reached, held = effect.get("reached"), effect.get("holdout")
        if reached and held and reached["members"] and held["members"]:
            p1, n1 = reached["buyers"] / reached["members"], reached["members"]
            p2, n2 = held["buyers"] / held["members"], held["members"]
            diff = p1 - p2
            margin = 1.96 * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
            note = _("Uplift in buying rate: %(diff)s points (95%% interval %(low)s to %(high)s).") % {
                "diff": round(diff * 100, 1),
                "low": round((diff - margin) * 100, 1),
                "high": round((diff + margin) * 100, 1),
            }
        return ReportResult(
            title=f"{self.label} · {campaign.name}",
            columns=[
                ("group", _("Group")),
                ("members", _("Members")),
                ("buyers", _("Buyers")),
                ("rate", _("Buying rate (%)")),
                ("sales", _("Sales (¥)")),
            ],
            rows=data,
            chart={"type": "bar", "x": "group", "series": ["rate"]},
            note=note,
        )


# ---- custom: a dimension by a measure ------------------------------------------------------------
DIMENSIONS: dict[str, tuple[Any, str]] = {
    "store": (gettext_lazy("Home store"), "coalesce(s.name, '')"),
    "region": (gettext_lazy("Region"), "coalesce(s.region, '')"),
    "tier": (gettext_lazy("Tier"), "coalesce(t.name, '')"),
    "channel": (gettext_lazy("Joined through"), "m.channel"),
    "gender": (gettext_lazy("Gender"), "m.gender"),
    "age": (
        gettext_lazy("Age band"),
        "CASE WHEN m.birthday IS NULL THEN '' WHEN age(m.birthday) < interval '25 years' THEN '<25' "
        "WHEN age(m.birthday) < interval '35 years' THEN '25–34' WHEN age(m.birthday) < interval '45 years' "
        "THEN '35–44' WHEN age(m.birthday) < interval '55 years' THEN '45–54' ELSE '55+' END",
    ),
    "joined_month": (gettext_lazy("Month joined"), "to_char(m.created_at AT TIME ZONE %(tz)s, 'YYYY-MM')"),
}
MEASURES: dict[str, Any] = {
    "members": gettext_lazy("Members"),
    "orders": gettext_lazy("Orders in the period"),
    "sales": gettext_lazy("Sales in the period (¥)"),
    "aov": gettext_lazy("Average order value (¥)"),
    "points": gettext_lazy("Points held"),
}


@register
class Custom(ReportType):
    key = "custom"
    label = gettext_lazy("Custom: a dimension by a measure")
    description = gettext_lazy("Pick what to group members by and what to count.")
    extra_params = ("dimension", "measure")

    def run(self, actor: Any, params: ReportParams, scope: Scope) -> ReportResult:
        from huiyuan.members.custom_fields import active_fields_by_key
        from huiyuan.platform.errors import ValidationFailed

        dimension = str(params.extra.get("dimension") or "store")
        measure = str(params.extra.get("measure") or "members")
        dimension_label: Any
        choice_labels: dict[str, str] = {}
        if dimension.startswith("custom."):
            field = active_fields_by_key().get(dimension[7:])
            if field is None or field.field_type != "single_choice":
                raise ValidationFailed(fields={"dimension": [_("Choose a single-choice custom field.")]})
            dimension_label, expression = field.label, "coalesce(m.custom_fields ->> %(custom_key)s, '')"
        elif dimension in DIMENSIONS:
            dimension_label, expression = DIMENSIONS[dimension]
            if dimension in ("gender", "channel"):
                model_field: Any = Member._meta.get_field(dimension)
                choice_labels = {str(k): str(v) for k, v in model_field.choices}
        else:
            raise ValidationFailed(fields={"dimension": [_("Choose what to group by.")]})
        if measure not in MEASURES:
            raise ValidationFailed(fields={"measure": [_("Choose what to count.")]})
        where, args = member_where(scope, params)
        named = {f"a{i}": value for i, value in enumerate(args)}
        for i in range(len(args)):
            where = where.replace("%s", f"%(a{i})s", 1)
        base = f"""FROM members_member m LEFT JOIN members_store s ON s.id = m.home_store_id
                   LEFT JOIN loyalty_tier t ON t.id = m.tier_id WHERE {where}"""
        sql_params = {
            **named,
            "tz": str(tenant_timezone()),
            "custom_key": dimension[7:],
            "start": params.start.replace(day=1),
            "end": params.end,
        }
        if measure in ("members", "points"):
            value = "count(*)" if measure == "members" else "coalesce(sum(m.points_balance), 0)"
            rows = fetch(f"SELECT {expression} AS dim, {value} {base} GROUP BY 1 ORDER BY 2 DESC", sql_params)
        else:
            value = {
                "orders": "coalesce(sum(mm.orders), 0)",
                "sales": "coalesce(sum(mm.sales), 0)",
                "aov": "round(coalesce(sum(mm.sales), 0) / nullif(sum(mm.orders), 0), 2)",
            }[measure]
            rows = fetch(
                f"""SELECT {expression} AS dim, {value}
                      FROM reports_membermonth mm JOIN members_member m ON m.id = mm.member_id
                      LEFT JOIN members_store s ON s.id = m.home_store_id LEFT JOIN loyalty_tier t ON t.id = m.tier_id
                     WHERE mm.month BETWEEN %(start)s AND %(end)s AND {where} GROUP BY 1 ORDER BY 2 DESC NULLS LAST""",
                sql_params,
            )
        data = [{"dimension": choice_labels.get(str(dim), dim) or _("(not given)"), "value": val} for dim, val in rows]
        return ReportResult(
            title=f"{dimension_label} × {MEASURES[measure]}",
            columns=[("dimension", str(dimension_label)), ("value", str(MEASURES[measure]))],
            rows=data,
            chart={"type": "bar", "x": "dimension", "series": ["value"]},
        )
