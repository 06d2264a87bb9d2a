"""Console pages. Each view parses the form, calls one service or selector, renders a template."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huiyuan.members import selectors as member_selectors
from huiyuan.members import stores as store_services
from huiyuan.members.models import Store
from huiyuan.platform import apikeys, audit, staff
from huiyuan.platform.access import can, check_permission, sees_all_stores
from huiyuan.platform.errors import DomainError, ValidationFailed
from huiyuan.platform.roles import ASSIGNABLE_ROLES, OPERATIONS, ROLE_OPERATIONS, ROLE_PURPOSES, Role

from .forms import error_context, form_values, int_list

PAGE_SIZE = 50


def _page(request: HttpRequest, qs: Any) -> Any:
    return Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))


def _guarded(op: str):  # type: ignore[no-untyped-def]
    """login_required plus the named operation; a missing operation renders a friendly 403 page."""

    def decorator(view):  # type: ignore[no-untyped-def]
        @login_required
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                check_permission(request.user, op)
            except DomainError as exc:
                return render(request, "console/error.html", {"message": exc.message}, status=exc.status_code)
            try:
                return view(request, *args, **kwargs)  # type: ignore[no-any-return]
            except DomainError as exc:
                # Forms catch their own validation errors; anything else still gets a readable page.
                details = [m for messages in exc.fields.values() for m in messages]
                return render(
                    request,
                    "console/error.html",
                    {"message": exc.message, "details": details},
                    status=exc.status_code,
                )

        wrapper.__name__ = view.__name__
        return wrapper

    return decorator


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    if can(user, "reports.report.view"):  # managers open on the member cockpit
        from .report_views import dashboard_page

        return dashboard_page(request)
    context: dict[str, Any] = {}
    if can(user, "platform.store.view"):
        context["store_count"] = store_services.store_list(actor=user).count()
    if can(user, "members.member.view"):
        context["member_count"] = member_selectors.member_list(actor=user).count()
    if can(user, "platform.staff.view"):
        context["staff_count"] = staff.staff_list(actor=user).count()
    context["all_stores"] = sees_all_stores(user)
    context["my_stores"] = list(user.stores.all()) if not context["all_stores"] else []
    return render(request, "console/home.html", context)


@_guarded("platform.store.view")
def stores(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "")
    qs = store_services.store_list(actor=request.user, search=search).annotate(member_count=Count("members"))
    return render(
        request,
        "console/stores.html",
        {"page": _page(request, qs), "q": search, "can_manage": can(request.user, "platform.store.manage")},
    )


@_guarded("platform.store.manage")
def store_edit(request: HttpRequest, store_id: int | None = None) -> HttpResponse:
    store = store_services.store_get(actor=request.user, store_id=store_id) if store_id else None
    fields = ("code", "name", "region", "address", "status")
    values = {f: getattr(store, f) for f in fields} if store else {"status": Store.Status.OPEN}
    context: dict[str, Any] = {"store": store, "statuses": Store.Status.choices}
    if request.method == "POST":
        values = form_values(request, *fields)
        try:
            if store:
                store_services.store_update(actor=request.user, store_id=store.pk, **values)
            else:
                store_services.store_create(actor=request.user, **values)
        except ValidationFailed as exc:
            context.update(error_context(exc))
        else:
            messages.success(request, _("Store saved."))
            return redirect("console:stores")
    context["values"] = values
    return render(request, "console/store_form.html", context)


@_guarded("platform.staff.view")
def staff_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "")
    page = _page(request, staff.staff_list(actor=request.user, search=search))
    return render(
        request,
        "console/staff.html",
        {"page": page, "q": search, "can_manage": can(request.user, "platform.staff.manage")},
    )


def _assignable_roles(user: Any) -> list[tuple[str, str]]:
    allowed = ASSIGNABLE_ROLES.get(user.role, frozenset())
    return [(role.value, str(role.label)) for role in Role if role.value in allowed]


@_guarded("platform.staff.manage")
def staff_invite(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {
        "roles": _assignable_roles(request.user),
        "stores": Store.objects.order_by("code"),
        "values": {},
        "selected_stores": [],
    }
    if request.method == "POST":
        values = form_values(request, "name", "role", "phone", "email")
        store_ids = int_list(request, "stores")
        context.update(values=values, selected_stores=store_ids)
        try:
            invitation = staff.staff_invite(actor=request.user, store_ids=store_ids, **values)
        except ValidationFailed as exc:
            context.update(error_context(exc))
        else:
            link = request.build_absolute_uri(f"/invite/{invitation.token}")
            return render(request, "console/staff_invited.html", {"staff": invitation.staff, "link": link})
    return render(request, "console/staff_invite.html", context)


@_guarded("platform.staff.manage")
def staff_edit(request: HttpRequest, staff_id: int) -> HttpResponse:
    from huiyuan.platform.logins import staff_locked_out

    member = staff.staff_get(actor=request.user, staff_id=staff_id)
    context: dict[str, Any] = {
        "member": member,
        "locked_out": member.pk in staff_locked_out([member.pk]),
        "roles": _assignable_roles(request.user),
        "stores": Store.objects.order_by("code"),
        "selected_stores": list(member.store_assignments.values_list("store_id", flat=True)),
    }
    if request.method == "POST":
        store_ids = int_list(request, "stores")
        context["selected_stores"] = store_ids
        try:
            staff.staff_update(
                actor=request.user,
                staff_id=member.pk,
                role=request.POST.get("role") or None,
                store_ids=store_ids,
                is_active=request.POST.get("is_active") == "on",
                name=request.POST.get("name"),
            )
        except ValidationFailed as exc:
            context.update(error_context(exc))
        else:
            messages.success(request, _("Staff member updated."))
            return redirect("console:staff")
    return render(request, "console/staff_form.html", context)


@_guarded("platform.staff.view")
def roles(request: HttpRequest) -> HttpResponse:
    role_list = list(Role)
    matrix = [
        {"op": op, "grants": [op.code in ROLE_OPERATIONS[role] for role in role_list]} for op in OPERATIONS.values()
    ]
    purposes = [(role.label, ROLE_PURPOSES[role]) for role in role_list]
    return render(request, "console/roles.html", {"roles": role_list, "matrix": matrix, "purposes": purposes})


@_guarded("platform.events.manage")
def deliveries(request: HttpRequest) -> HttpResponse:
    """Event deliveries that failed for good (dead) or are late, with a retry for the dead ones."""
    from huiyuan.platform.events.registry import event_label, subscriber_label
    from huiyuan.platform.events.selectors import delivery_counts, delivery_list
    from huiyuan.platform.events.services import deliveries_retry

    if request.method == "POST":
        ids = int_list(request, "ids") or None
        revived = deliveries_retry(delivery_ids=ids)
        audit.audit_record(actor=request.user, action="platform.events.retry", changes={"ids": ids, "revived": revived})
        messages.success(request, _("%(n)d deliveries will be sent again.") % {"n": revived})
        return redirect("console:deliveries")
    status = request.GET.get("status", "dead")
    if status not in ("dead", "pending", "handled"):
        status = "dead"
    page = _page(request, delivery_list(status=status))
    for delivery in page:
        delivery.event_label = event_label(delivery.event.event_type)  # type: ignore[attr-defined]
        delivery.subscriber_label = subscriber_label(delivery.subscriber)  # type: ignore[attr-defined]
    context = {"page": page, "status": status, "counts": delivery_counts()}
    return render(request, "console/deliveries.html", context)


@_guarded("platform.apikey.manage")
def apikey_list(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {
        "keys": [
            {"key": key, "scope_labels": [str(OPERATIONS[c].label) if c in OPERATIONS else c for c in key.scopes]}
            for key in apikeys.api_key_list(actor=request.user)
        ],
        "scopes": [op for op in OPERATIONS.values() if op.api_key_allowed],
        "stores": Store.objects.order_by("code"),
        "values": {},
        "selected_scopes": [],
    }
    if request.method == "POST":
        name = request.POST.get("name", "")
        scopes = request.POST.getlist("scopes")
        store = request.POST.get("store", "")
        context.update(values={"name": name, "store": store}, selected_scopes=scopes)
        try:
            issued = apikeys.api_key_create(
                actor=request.user, name=name, scopes=scopes, store_id=int(store) if store.isdecimal() else None
            )
        except ValidationFailed as exc:
            context.update(error_context(exc))
        else:
            context.update(issued=issued, values={}, selected_scopes=[])
    return render(request, "console/apikeys.html", context)


@require_POST
@_guarded("platform.apikey.manage")
def apikey_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    apikeys.api_key_revoke(actor=request.user, key_id=key_id)
    messages.success(request, _("API key revoked."))
    return redirect("console:apikeys")


@_guarded("platform.audit.view")
def audit_log(request: HttpRequest) -> HttpResponse:
    action = request.GET.get("action", "")
    from huiyuan.platform.audit_words import audit_entry_words, audit_subjects

    page = _page(request, audit.audit_list(actor=request.user, action=action).select_related("actor"))
    rows = [audit_entry_words(entry) for entry in page]
    subjects = audit_subjects(audit.audit_list(actor=request.user))
    return render(request, "console/audit.html", {"page": page, "rows": rows, "action": action, "subjects": subjects})


def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invited = staff.staff_for_invite_token(token)
    except DomainError as exc:
        return render(request, "console/error.html", {"message": exc.message}, status=404)
    context: dict[str, Any] = {"staff": invited}
    if request.method == "POST":
        password = request.POST.get("password", "")
        if password != request.POST.get("password2", ""):
            context["errors"] = {"password2": [_("The two passwords differ.")]}
        else:
            try:
                user = staff.staff_accept_invite(token=token, password=password)
            except ValidationFailed as exc:
                context.update(error_context(exc))
            else:
                login(request, user, backend="huiyuan.platform.auth.StaffLoginBackend")
                return redirect("console:home")
    return render(request, "console/invite_accept.html", context)


def login_locked_out(request: HttpRequest, credentials: Any = None, *args: Any, **kwargs: Any) -> HttpResponse:
    """What django-axes answers a locked-out login: the login page with the wait, in the user's
    language, and 429 so scripts see it too."""
    from huiyuan.platform.logins import lockout_minutes

    message = _(
        "Too many failed logins: this account or this address is locked for %(minutes)d minutes. "
        "Try again later, or ask HQ to unlock it."
    ) % {"minutes": lockout_minutes()}
    return render(request, "console/login.html", {"locked_message": message, "form": None}, status=429)


@_guarded("platform.staff.manage")
def staff_unlock(request: HttpRequest, staff_id: int) -> HttpResponse:
    from huiyuan.platform.logins import staff_unlock as unlock

    if request.method == "POST":
        unlock(actor=request.user, staff_id=staff_id)
        messages.success(request, _("The staff member can log in again."))
    return redirect("console:staff-edit", staff_id=staff_id)
