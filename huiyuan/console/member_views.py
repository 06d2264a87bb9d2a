"""Console pages for members: list, profile (360°), enrol / edit with custom fields, custom field
design, segments with live preview, import with column mapping and progress, export."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from huiyuan.members import custom_fields, exports, imports, segments, selectors, services, tags
from huiyuan.members.fields import registry
from huiyuan.members.history_words import history_rows
from huiyuan.members.models import ImportJob, Lifecycle, Member, Order
from huiyuan.members.stores import store_list
from huiyuan.platform.access import can, check_permission
from huiyuan.platform.downloads import file_download
from huiyuan.platform.errors import DomainError, ValidationFailed

from .forms import error_context
from .views import PAGE_SIZE, _guarded

CORE_FORM_FIELDS = ("phone", "name", "gender", "birthday", "province", "city", "email", "home_store_id")


def _custom_form_fields(
    member: Member | None, posted: dict[str, Any] | None = None, *, role: str | None
) -> list[dict[str, Any]]:
    """The custom fields this role fills in, in the designer's order, each with its section."""
    rows = []
    for field in custom_fields.fields_for_role(role):
        value = (posted or {}).get(field.key, member.custom_fields.get(field.key) if member else None)
        rows.append(
            {
                "field": field,
                "section": field.section,
                "value": value,
                "choices": field.config.get("choices", []),
                "display": registry.get(field.field_type).display(value, field) if value not in (None, "") else "",
            }
        )
    first_seen: dict[str, int] = {}
    for row in rows:
        first_seen.setdefault(row["section"], len(first_seen))
    return sorted(rows, key=lambda row: first_seen[row["section"]])  # sections together, in order


def _posted_custom(request: HttpRequest) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in custom_fields.fields_for_role(getattr(request.user, "role", None)):
        name = f"cf_{field.key}"
        if field.field_type == "multiple_choice":
            values[field.key] = request.POST.getlist(name)
        elif field.field_type == "boolean":
            values[field.key] = request.POST.get(name, "")
        else:
            values[field.key] = request.POST.get(name, "")
    return values


@_guarded("members.member.view")
def member_profile(request: HttpRequest, member_id: int) -> HttpResponse:
    member = selectors.member_access_by_id(actor=request.user, member_id=member_id)
    context = {
        "member": member,
        "phone": selectors.visible_phone(request.user, member, for_display=True),
        "custom": custom_fields.display_custom_values(
            member, custom_fields.fields_for_role(getattr(request.user, "role", None))
        ),
        "tags": member.member_tags.select_related("tag", "applied_by"),
        "manual_tags": tags.tag_list().filter(kind="manual"),
        "orders": Order.objects.filter(member=member).select_related("store").prefetch_related("lines")[:20],
        "history": history_rows(selectors.member_history(actor=request.user, member=member, limit=30)),
        "can_edit": can(request.user, "members.member.update", member),
        "can_delete": can(request.user, "members.member.delete"),
    }
    return render(request, "console/member_profile.html", context)


@_guarded("members.member.create")
def member_new(request: HttpRequest) -> HttpResponse:
    return _member_form(request, None)


@_guarded("members.member.update")
def member_edit(request: HttpRequest, member_id: int) -> HttpResponse:
    return _member_form(request, selectors.member_access_by_id(actor=request.user, member_id=member_id))


def _member_form(request: HttpRequest, member: Member | None) -> HttpResponse:
    context: dict[str, Any] = {
        "member": member,
        "genders": Member.Gender.choices,
        "stores": store_list(actor=request.user),
        "values": {f: getattr(member, f) if member else "" for f in CORE_FORM_FIELDS},
        "custom": _custom_form_fields(member, role=request.user.role),  # type: ignore[union-attr]
        "can_edit_phone": member is None or can(request.user, "members.pii.view", member),
    }
    if member:
        context["values"]["phone"] = selectors.visible_phone(request.user, member, for_display=True)
    else:  # from the till: the phone the cashier searched for, and back to the till after saving
        context["values"]["phone"] = request.GET.get("phone", "")[:20]
        context["next_cashier"] = request.GET.get("next") == "cashier"
    if request.method == "POST":
        data: dict[str, Any] = {f: request.POST.get(f, "") for f in CORE_FORM_FIELDS}
        if member and not context["can_edit_phone"]:
            data.pop("phone")
        data["home_store_id"] = data.get("home_store_id") or None
        data["custom_fields"] = _posted_custom(request)
        context["values"] = {**context["values"], **data}
        context["custom"] = _custom_form_fields(member, data["custom_fields"], role=request.user.role)  # type: ignore[union-attr]
        try:
            if member:
                if data.get("phone") and data["phone"] == selectors.visible_phone(
                    request.user, member, for_display=True
                ):
                    data.pop("phone")
                saved = services.member_update(actor=request.user, member_id=member.pk, data=data, source="console")
            else:
                saved = services.member_enroll(actor=request.user, data=data, source="console")
        except ValidationFailed as exc:
            context.update(error_context(exc))
            context["custom_errors"] = {
                k.split(".", 1)[1]: v for k, v in exc.fields.items() if k.startswith("custom_fields.")
            }
        else:
            messages.success(request, _("Member saved."))
            if context.get("next_cashier"):
                return redirect(f"{reverse('console:cashier')}?member={saved.pk}")
            return redirect("console:member", member_id=saved.pk)
    return render(request, "console/member_form.html", context)


@require_POST
@_guarded("members.member.update")
def member_tag(request: HttpRequest, member_id: int) -> HttpResponse:
    tag_id = request.POST.get("tag", "")
    if tag_id.isdecimal():
        if request.POST.get("remove"):
            tags.tag_remove(actor=request.user, member_id=member_id, tag_id=int(tag_id))
        else:
            tags.tag_apply(actor=request.user, member_id=member_id, tag_id=int(tag_id))
    return redirect("console:member", member_id=member_id)


# ---- segments -----------------------------------------------------------------------------------
EXAMPLE_RULE = {
    "and": [
        {"field": "m_score", "op": "gte", "value": 4},
        {"field": "last_purchase_at", "op": "not_within_last", "value": 30},
    ]
}


@_guarded("members.segment.view")
def segment_page(request: HttpRequest) -> HttpResponse:
    """Build a segment with the condition builder (fields in words, operators by type, live count);
    rules nested deeper than one and/or group are edited as JSON under "Advanced"."""
    saved = segments.segment_list(actor=request.user)
    selected = request.GET.get("segment", "")
    rule: Any = EXAMPLE_RULE
    if selected.isdecimal():
        rule = segments.segment_get(actor=request.user, segment_id=int(selected)).rule
    context: dict[str, Any] = {
        "saved": saved,
        "name": request.POST.get("name", ""),
        "can_manage": can(request.user, "members.segment.manage"),
        "can_campaign": can(request.user, "automation.rule.manage"),
        "manual_tags": tags.tag_list().filter(kind="manual"),
        "perms_export": can(request.user, "members.member.export"),
        "fields": segments.condition_catalogue(request.user),
    }
    if request.method == "POST":
        if "c_field" in request.POST:
            rows = list(
                zip(
                    request.POST.getlist("c_field"),
                    request.POST.getlist("c_op"),
                    request.POST.getlist("c_value"),
                    strict=False,
                )
            )
            rule = segments.rule_from_rows(request.POST.get("c_join", "and"), rows)
        else:
            try:
                rule = json.loads(request.POST.get("rule") or "null")
            except json.JSONDecodeError as exc:
                context.update(errors={"rule": [_("Not valid JSON: %(e)s") % {"e": exc}]})
                rule = None
        if rule is not None or "c_field" in request.POST:
            try:
                rule = rule or {"field": "order_count", "op": "gte", "value": 0}  # no condition: everyone
                action = request.POST.get("action", "preview")
                if action == "save":
                    segments.segment_save(actor=request.user, name=context["name"], rule=rule)
                    messages.success(request, _("Segment saved."))
                elif action == "tag" and request.POST.get("tag", "").isdecimal():
                    count = tags.tag_segment(actor=request.user, tag_id=int(request.POST["tag"]), rule=rule)
                    messages.success(request, _("Tagged %(n)d members.") % {"n": count})
                elif action == "auto_tag":
                    tags.tag_create(actor=request.user, name=context["name"], kind="auto", rule=rule)
                    messages.success(request, _("Automatic tag created."))
                elif action == "export":
                    content, _count = exports.export_members(actor=request.user, rule=rule, file_format="xlsx")
                    return file_download(content, "segment.xlsx")
                qs = segments.segment_members(actor=request.user, rule=rule).select_related("home_store")
                context["count"] = qs.count()
                context["rows"] = [
                    {"member": m, "phone": selectors.visible_phone(request.user, m, for_display=True)}
                    for m in qs[:PAGE_SIZE]
                ]
            except ValidationFailed as exc:
                context.update(error_context(exc))
    try:
        join, builder_rows = segments.rows_from_rule(rule)
        context.update(c_join=join, c_rows=builder_rows or [{"field": "", "op": "", "value": ""}], nested=False)
    except ValueError:
        context.update(c_join="and", c_rows=[{"field": "", "op": "", "value": ""}], nested=True)
    context["rule_text"] = json.dumps(rule, ensure_ascii=False, indent=2) if rule is not None else ""
    return render(request, "console/segments.html", context)


@require_POST
@_guarded("members.segment.view")
def segment_count(request: HttpRequest) -> HttpResponse:
    """The live count under the segment builder (htmx): how many members the picked rows match."""
    rows = list(
        zip(
            request.POST.getlist("c_field"), request.POST.getlist("c_op"), request.POST.getlist("c_value"), strict=False
        )
    )
    try:
        rule = segments.rule_from_rows(request.POST.get("c_join", "and"), rows)
        if rule is None:
            return HttpResponse(_("Pick a field to count members."))
        count = segments.segment_members(actor=request.user, rule=rule).count()
    except ValidationFailed as exc:
        return HttpResponse(" ".join(m for ms in exc.fields.values() for m in ms) or str(exc.message))
    return HttpResponse(_("%(n)d members match now.") % {"n": count})


# ---- import and export --------------------------------------------------------------------------
@_guarded("members.member.import")
def import_page(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"jobs": imports.import_list(actor=request.user)[:20]}
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise ValidationFailed(fields={"file": [_("Choose a CSV or Excel file.")]})
            job = imports.import_upload(
                actor=request.user,
                filename=upload.name or "upload.csv",
                content=upload.read(),
                kind=request.POST.get("kind", "members"),
            )
        except ValidationFailed as exc:
            context.update(error_context(exc))
        else:
            return redirect("console:import", job_id=job.pk)
    return render(request, "console/imports.html", context)


@_guarded("members.member.import")
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = imports.import_access(actor=request.user, job_id=job_id)
    context: dict[str, Any] = {"job": job}
    if job.status == ImportJob.Status.UPLOADED and request.method == "POST" and request.POST.get("change_encoding"):
        try:
            imports.import_set_encoding(actor=request.user, job_id=job_id, encoding=request.POST.get("encoding", ""))
        except ValidationFailed as exc:
            context.update(error_context(exc))
        else:
            return redirect("console:import", job_id=job_id)
    if job.status == ImportJob.Status.UPLOADED:
        preview = imports.import_preview(actor=request.user, job_id=job_id)
        context["preview"] = preview
        context["columns"] = [
            {"header": h, "target": preview["mapping"].get(h, ""), "index": i} for i, h in enumerate(preview["headers"])
        ]
        if request.method == "POST" and not request.POST.get("change_encoding"):
            mapping = {h: request.POST.get(f"map_{i}", "") for i, h in enumerate(preview["headers"])}
            try:
                imports.import_start(
                    actor=request.user,
                    job_id=job_id,
                    mapping=mapping,
                    upsert_by=request.POST.get("upsert_by", "phone"),
                    update_existing=request.POST.get("update_existing") == "on",
                    unknown_members=request.POST.get("unknown_members", "create"),
                )
            except ValidationFailed as exc:
                context.update(error_context(exc))
                for column in context["columns"]:
                    column["target"] = mapping[column["header"]]
            else:
                return redirect("console:import", job_id=job_id)
    else:
        context["errors_preview"] = job.errors[:50] if job.status == ImportJob.Status.DONE else []
    template = "console/_import_status.html" if request.headers.get("HX-Request") else "console/import_detail.html"
    return render(request, template, context)


@_guarded("members.member.import")
def import_errors(request: HttpRequest, job_id: int) -> HttpResponse:
    job = imports.import_access(actor=request.user, job_id=job_id)
    return file_download(imports.error_report_csv(job), f"import-{job.pk}-errors.csv")


@_guarded("members.member.export")
def member_export(request: HttpRequest) -> HttpResponse:
    file_format = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    content, _count = exports.export_members(actor=request.user, file_format=file_format)
    return file_download(content, f"members.{file_format}")


# ---- tags ---------------------------------------------------------------------------------------
@_guarded("members.segment.manage")
def tag_page(request: HttpRequest) -> HttpResponse:
    """Manual tags made, renamed and deleted here; automatic ones come from the segment page."""
    context: dict[str, Any] = {"values": {}}
    if request.method == "POST":
        action = request.POST.get("action", "")
        tag_id = request.POST.get("tag_id", "")
        try:
            if action == "create":
                context["values"] = {"name": request.POST.get("name", "")}
                tags.tag_create(actor=request.user, name=request.POST.get("name", ""))
                messages.success(request, _("Tag created. Apply it on a member's profile or to a whole segment."))
            elif action == "rename" and tag_id.isdecimal():
                tags.tag_rename(actor=request.user, tag_id=int(tag_id), name=request.POST.get("name", ""))
                messages.success(request, _("Tag renamed."))
            elif action == "delete" and tag_id.isdecimal():
                carried = tags.tag_delete(actor=request.user, tag_id=int(tag_id))
                messages.success(request, _("Tag deleted; it was removed from %(n)d members.") % {"n": carried})
        except ValidationFailed as exc:
            context.update(error_context(exc))
            context["failed_tag"] = tag_id
        else:
            return redirect("console:tags")
    context["tags"] = tags.tag_list_with_counts()
    return render(request, "console/tags.html", context)


# ---- the member list ------------------------------------------------------------------------------
# Columns a user may show (key, label, sort field or ""); phone and card number are always there.
MEMBER_COLUMNS: list[tuple[str, Any, str]] = [
    ("tier", _lazy("Tier"), "tier__rank"),
    ("points", _lazy("Points"), "points_balance"),
    ("stored_value", _lazy("Stored value"), "stored_principal"),
    ("total_spend", _lazy("Total spend"), "total_spend"),
    ("order_count", _lazy("Orders"), "order_count"),
    ("last_purchase", _lazy("Last purchase"), "last_purchase_at"),
    ("lifecycle", _lazy("Lifecycle stage"), "lifecycle"),
    ("home_store", _lazy("Home store"), "home_store__code"),
    ("joined", _lazy("Joined"), "created_at"),
]
DEFAULT_COLUMNS = ["tier", "points", "total_spend", "last_purchase", "home_store"]
SORTS = {key: field for key, _label, field in MEMBER_COLUMNS if field} | {"name": "name", "card_no": "card_no"}


class CappedPaginator(Paginator):
    """Counts at most ``COUNT_CAP`` matches (the page shows "1000+"), so a broad search over a
    million members answers as fast as a narrow one."""

    more = False

    @cached_property
    def count(self) -> int:
        counted, self.more = selectors.capped_count(self.object_list)  # type: ignore[arg-type]  # always a QuerySet here
        return counted


def _chosen_columns(user: Any) -> list[str]:
    known = {key for key, _label, _field in MEMBER_COLUMNS}
    chosen = (user.preferences or {}).get("member_columns")
    return [c for c in chosen if c in known] if isinstance(chosen, list) else DEFAULT_COLUMNS


def _builder_rows(get: QueryDict) -> list[tuple[str, str, str]]:
    return list(zip(get.getlist("c_field"), get.getlist("c_op"), get.getlist("c_value"), strict=False))


def _list_rule(get: QueryDict) -> Any:
    """The rule the list's filter bar and condition rows describe (None: no filter). The bulk
    form sends back the query string it was shown with, so it acts on the same members."""
    extra = segments.rule_from_rows(get.get("c_join", "and"), _builder_rows(get))
    return segments.rule_from_quick_filters({k: get.get(k, "").strip() for k in segments.QUICK_FILTERS}, extra=extra)


@_guarded("members.member.view")
def member_list_page(request: HttpRequest) -> HttpResponse:
    """Members with a filter bar (store, tier, tag, lifecycle, spend, last purchase), more
    conditions from the segment builder (custom fields too), columns the user picks and sorting;
    ticked or all matching members can be tagged, given a coupon, sent a campaign or exported."""
    from huiyuan.loyalty.selectors import coupon_template_list, tier_list

    user: Any = request.user
    search = request.GET.get("q", "")
    rule = _list_rule(request.GET)
    context: dict[str, Any] = {"q": search, "errors": {}}
    qs = selectors.member_list(actor=user, search=search).select_related("tier")
    if rule is not None:
        try:
            qs = qs.filter(segments.compile_rule(rule, actor=user))
        except DomainError as exc:  # a value that does not parse: say which, show no one
            context["errors"] = exc.fields
            context["error_message"] = exc.message
            qs = qs.none()
    sort = request.GET.get("sort", "")
    field = SORTS.get(sort.lstrip("-"))
    if field:
        qs = qs.order_by(f"{'-' if sort.startswith('-') else ''}{field}", "-id")
    paginator = CappedPaginator(qs, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    unsorted = query.copy()
    unsorted.pop("sort", None)
    chosen = _chosen_columns(user)
    builder_rule = segments.rule_from_rows(request.GET.get("c_join", "and"), _builder_rows(request.GET))
    join, builder_rows = segments.rows_from_rule(builder_rule)
    bulk = can(user, "members.segment.manage")
    context.update(
        {
            "page": page,
            "more_than_counted": paginator.more,
            "rows": [{"member": m, "phone": selectors.visible_phone(user, m, for_display=True)} for m in page],
            "columns": [(k, label, f) for k, label, f in MEMBER_COLUMNS if k in chosen],
            "all_columns": MEMBER_COLUMNS,
            "chosen": chosen,
            "sort": sort,
            "values": request.GET,
            "unsorted_query": unsorted.urlencode(),
            "extra_query": "&" + query.urlencode() if query else "",
            "filter_query": query.urlencode(),
            "filtered": rule is not None or bool(search),
            "stores": store_list(actor=user),
            "tiers": [t.name for t in tier_list()],
            "tag_choices": tags.tag_list().order_by("name"),
            "manual_tags": tags.tag_list().filter(kind="manual").order_by("name"),
            "lifecycles": Lifecycle.choices,
            "fields": segments.condition_catalogue(user),
            "c_join": join,
            "c_rows": builder_rows or [{"field": "", "op": "", "value": ""}],
            "more_open": bool(builder_rows),
            "perms_create": can(user, "members.member.create"),
            "perms_export": can(user, "members.member.export"),
            "perms_bulk": bulk,
            "perms_campaign": can(user, "automation.rule.manage"),
            "coupon_templates": coupon_template_list(active_only=True) if bulk else [],
        }
    )
    return render(request, "console/members.html", context)


@require_POST
@_guarded("members.member.view")
def member_columns(request: HttpRequest) -> HttpResponse:
    """Save the columns this user shows on the member list (kept on the user, any device)."""
    from huiyuan.platform.staff import staff_preferences_update

    known = [key for key, _label, _field in MEMBER_COLUMNS]
    chosen = [c for c in request.POST.getlist("columns") if c in known]
    staff_preferences_update(actor=request.user, member_columns=chosen)
    return redirect(f"{reverse('console:members')}?{request.POST.get('back', '')}")


@require_POST
@_guarded("members.member.view")
def member_bulk(request: HttpRequest) -> HttpResponse:
    """Act on the ticked members, or on every member the filters match: tag, coupon, campaign,
    export. Each goes through the segment action it names, with the actor's own scope."""
    from huiyuan.loyalty.coupons import coupon_issue_to_segment

    user: Any = request.user
    back = request.POST.get("back", "")
    target = request.POST.get("target", "selected")
    action = request.POST.get("action", "")
    if target == "all":
        rule = _list_rule(QueryDict(back))
        if rule is None:
            rule = {"field": "order_count", "op": "gte", "value": 0}  # every member the user may see
    else:
        cards = request.POST.getlist("card")
        if not cards:
            messages.error(request, _("Tick at least one member, or choose all members that match."))
            return redirect(f"{reverse('console:members')}?{back}")
        rule = segments.selected_members_rule(cards)
    try:
        if action == "export":
            check_permission(user, "members.member.export")
            content, _count = exports.export_members(actor=user, rule=rule, file_format="xlsx")
            return file_download(content, "members.xlsx")
        if action == "tag" and request.POST.get("tag", "").isdecimal():
            count = tags.tag_segment(actor=user, tag_id=int(request.POST["tag"]), rule=rule)
            messages.success(request, _("Tagged %(n)d members.") % {"n": count})
        elif action == "coupon" and request.POST.get("template", "").isdecimal():
            result = coupon_issue_to_segment(actor=user, rule=rule, template_id=int(request.POST["template"]))
            messages.success(request, _("Issued %(issued)d coupons (%(skipped)d members skipped).") % result)
        elif action == "campaign":
            name = _("Member list %(when)s") % {"when": timezone.localtime().strftime("%Y-%m-%d %H:%M")}
            segment = segments.segment_save(actor=user, name=name, rule=rule)
            return redirect(f"{reverse('console:campaigns')}?segment={segment.pk}")
        else:
            messages.error(request, _("Choose what to do with the members."))
    except DomainError as exc:
        messages.error(request, " ".join([str(exc.message), *(m for ms in exc.fields.values() for m in ms)]))
    return redirect(f"{reverse('console:members')}?{back}")


# ---- merge duplicates and erase on request ------------------------------------------------------
@_guarded("members.member.delete")
def member_merge_page(request: HttpRequest, member_id: int) -> HttpResponse:
    """Find the duplicate by phone, card number or name, see both side by side, then fold it in."""
    keep = selectors.member_access_by_id(actor=request.user, member_id=member_id)
    query = request.GET.get("q", "").strip()
    candidates = (
        [m for m in selectors.member_list(actor=request.user, search=query)[:10] if m.pk != keep.pk] if query else []
    )
    other = None
    other_id = request.POST.get("other") or request.GET.get("other", "")
    if other_id.isdecimal():
        other = selectors.member_access_by_id(actor=request.user, member_id=int(other_id))
    if request.method == "POST" and other is not None:
        try:
            services.member_merge(actor=request.user, keep_id=keep.pk, merge_id=other.pk, source="console")
        except DomainError as exc:
            messages.error(request, " ".join([str(exc.message), *(m for ms in exc.fields.values() for m in ms)]))
        else:
            messages.success(request, _("Merged: orders and tags of the duplicate now belong to this member."))
            return redirect("console:member", member_id=keep.pk)
    return render(
        request,
        "console/member_merge.html",
        {
            "keep": keep,
            "keep_phone": selectors.visible_phone(request.user, keep, for_display=True),
            "other": other,
            "other_phone": selectors.visible_phone(request.user, other, for_display=True) if other else "",
            "q": query,
            "candidates": [(m, selectors.visible_phone(request.user, m, for_display=True)) for m in candidates],
        },
    )


@_guarded("members.member.delete")
def member_erase_page(request: HttpRequest, member_id: int) -> HttpResponse:
    from huiyuan.members.erasure import member_erase

    member = selectors.member_access_by_id(actor=request.user, member_id=member_id)
    context: dict[str, Any] = {"member": member, "values": {}}
    if request.method == "POST":
        context["values"] = {"reason": request.POST.get("reason", "")}
        try:
            member_erase(
                actor=request.user,
                member_id=member.pk,
                reason=request.POST.get("reason", ""),
                confirm_card_no=request.POST.get("confirm_card_no", ""),
            )
        except ValidationFailed as exc:
            context.update(error_context(exc))
        except DomainError as exc:
            context["error_message"] = exc.message
        else:
            messages.success(request, _("Personal data erased. Orders and balances stay for the books."))
            return redirect("console:member", member_id=member.pk)
    return render(request, "console/member_erase.html", context)
