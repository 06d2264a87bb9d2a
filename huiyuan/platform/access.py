"""Who may do what, and on which rows. The only module that talks to django-guardian.

Two entry points, as in style.md:
- ``check_permission(actor, op, obj=None)`` raises ``PermissionDenied`` (or ``NotFound`` when the
  object lies outside the actor's stores, so "missing" and "not yours" look the same);
- ``filter_queryset(actor, op, qs)`` narrows a queryset to the rows the actor may see, with a plain
  join on store assignments (guardian's per-row checks are far too slow for lists).

An actor is a staff ``User`` (console, session auth) or an ``ApiKeyPrincipal`` (POS / ERP).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from django.db import models
from django.db.models import QuerySet
from guardian.shortcuts import assign_perm, remove_perm

from .errors import NotFound, PermissionDenied
from .roles import ALL_STORE_ROLES, OPERATIONS, operations_for_role

if TYPE_CHECKING:
    from .models import ApiKey, User

M = TypeVar("M", bound=models.Model)

# Operations that may be granted on a single store (a guardian object permission on Store).
STORE_GRANTABLE_OPERATIONS = {"members.pii.view": "pii_view"}


@dataclass
class ApiKeyPrincipal:
    """``request.user`` for a call authenticated with an API key."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    role: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def pk(self) -> None:
        return None

    @property
    def principal_id(self) -> str:
        return f"key:{self.api_key.pk}"

    def __str__(self) -> str:
        return f"API key {self.api_key.name}"


class StoreScoped(Protocol):
    scope_store_field: str


Actor = Any  # ``User`` or ``ApiKeyPrincipal``; kept loose so views can pass ``request.user``.


def principal_id(actor: Actor) -> str:
    if isinstance(actor, ApiKeyPrincipal):
        return actor.principal_id
    return f"user:{actor.pk}"


def actor_operations(actor: Actor) -> frozenset[str]:
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return frozenset()
    if isinstance(actor, ApiKeyPrincipal):
        return actor.scopes & frozenset(op for op, meta in OPERATIONS.items() if meta.api_key_allowed)
    return operations_for_role(actor.role)


def has_operation(actor: Actor, op: str) -> bool:
    if op not in OPERATIONS:
        raise KeyError(f"unknown operation {op!r}")
    return op in actor_operations(actor)


def sees_all_stores(actor: Actor) -> bool:
    if isinstance(actor, ApiKeyPrincipal):
        return actor.api_key.store_id is None
    return actor.role in ALL_STORE_ROLES


def store_ids_subquery(actor: Actor) -> QuerySet[Any]:
    """The actor's stores as a subquery (``store_id IN (SELECT ...)``), for store-scoped roles."""
    from .models import StoreAssignment

    if isinstance(actor, ApiKeyPrincipal):
        from .models import Store

        return Store.objects.filter(pk__in=[actor.api_key.store_id]).values("pk")
    return StoreAssignment.objects.filter(user_id=actor.pk).values("store_id")


def _memo(actor: Actor, name: str, compute: Any) -> Any:
    """Remember a per-actor answer on the actor object (one per request): a list of 50 members
    asks the same scope and grant questions once, not once per row."""
    cache = actor.__dict__.setdefault("_huiyuan_access_cache", {})
    if name not in cache:
        cache[name] = compute()
    return cache[name]


def actor_store_ids(actor: Actor) -> set[int]:
    if isinstance(actor, ApiKeyPrincipal):
        return {actor.api_key.store_id} if actor.api_key.store_id else set()
    from .models import StoreAssignment

    return _memo(  # type: ignore[no-any-return]
        actor,
        "store_ids",
        lambda: set(StoreAssignment.objects.filter(user_id=actor.pk).values_list("store_id", flat=True)),
    )


def filter_queryset(actor: Actor, op: str, qs: QuerySet[M], *, store_field: str | None = None) -> QuerySet[M]:
    """Rows of ``qs`` the actor may see for ``op``: none without the operation, all for all-store
    roles, else those whose store (``store_field`` or the model's ``scope_store_field``) is one of
    the actor's stores."""
    if not has_operation(actor, op):
        return qs.none()
    if sees_all_stores(actor):
        return qs
    field_name = store_field or getattr(qs.model, "scope_store_field", None)
    if field_name is None:
        raise TypeError(f"{qs.model.__name__} has no scope_store_field; pass store_field")
    lookup = "pk__in" if field_name == "pk" else f"{field_name}__in"
    return qs.filter(**{lookup: store_ids_subquery(actor)})


def _store_id_of(obj: models.Model) -> int | None:
    field_name = getattr(obj, "scope_store_field", None)
    if field_name is None:
        return None
    if field_name == "pk":
        return obj.pk  # type: ignore[no-any-return]
    return getattr(obj, f"{field_name}_id", None)  # type: ignore[no-any-return]


def in_scope(actor: Actor, obj: models.Model) -> bool:
    if sees_all_stores(actor):
        return True
    store_id = _store_id_of(obj)
    if store_id is None:
        # Objects that belong to no store (e.g. a member with no home store) are HQ's.
        return not hasattr(obj, "scope_store_field")
    return store_id in actor_store_ids(actor)


def _guardian_store_grant(actor: Actor, op: str, obj: models.Model) -> bool:
    codename = STORE_GRANTABLE_OPERATIONS.get(op)
    if codename is None or isinstance(actor, ApiKeyPrincipal):
        return False
    store_id = _store_id_of(obj)
    if store_id is None:
        return False
    from guardian.shortcuts import get_objects_for_user

    from .models import Store

    granted = _memo(
        actor,
        f"grant:{codename}",
        lambda: set(
            get_objects_for_user(actor, f"platform.{codename}", klass=Store, accept_global_perms=False).values_list(
                "pk", flat=True
            )
        ),
    )
    return store_id in granted


def check_permission(actor: Actor, op: str, obj: models.Model | None = None) -> None:
    """Raise unless ``actor`` may perform ``op`` (on ``obj``, when given)."""
    allowed = has_operation(actor, op)
    if obj is None:
        if not allowed:
            raise PermissionDenied(operation=op)
        return
    if allowed and in_scope(actor, obj):
        return
    if _guardian_store_grant(actor, op, obj):
        return
    if allowed:
        raise NotFound()
    raise PermissionDenied(operation=op)


def can(actor: Actor, op: str, obj: models.Model | None = None) -> bool:
    try:
        check_permission(actor, op, obj)
    except (PermissionDenied, NotFound):
        return False
    return True


def grant_store_operation(*, staff: User, op: str, store: models.Model) -> None:
    assign_perm(f"platform.{STORE_GRANTABLE_OPERATIONS[op]}", staff, store)
    staff.__dict__.pop("_huiyuan_access_cache", None)


def revoke_store_operation(*, staff: User, op: str, store: models.Model) -> None:
    remove_perm(f"platform.{STORE_GRANTABLE_OPERATIONS[op]}", staff, store)
    staff.__dict__.pop("_huiyuan_access_cache", None)
