"""Staff hear of their tasks where they work: a task assigned (to them, or to their role at their
store) is pushed as a WeCom text card with a link back to the task in the console."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import partial
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.platform.access import check_permission
from huiyuan.platform.events.registry import Event, subscribe
from huiyuan.platform.models import User
from huiyuan.platform.tenancy import tenant_url

from .models import Connection, StaffIdentity
from .registry import PROVIDERS, STAFF_NOTIFIER, VendorError, VendorRefused
from .services import connection_get, provider_for, vendor_call

logger = logging.getLogger(__name__)


def staff_identities_save(*, actor: Any, connection_id: int, lines: list[str]) -> int:
    """``username=vendor id`` lines: who each staff member is at the vendor. Unknown usernames are
    errors naming the line; the mapping replaces the previous one."""
    from huiyuan.platform.errors import ValidationFailed

    connection = connection_get(actor=actor, connection_id=connection_id)
    users = {u.username: u for u in User.objects.filter(is_active=True)}
    pairs, errors = [], {}
    for number, line in enumerate(lines, start=1):
        username, _sep, external = line.partition("=")
        if not external.strip() or username.strip() not in users:
            errors[f"line {number}"] = [_("Write username=WeCom userid, with a username of an active staff member.")]
            continue
        pairs.append((users[username.strip()], external.strip()[:64]))
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        StaffIdentity.objects.filter(connection=connection).delete()
        StaffIdentity.objects.bulk_create(StaffIdentity(connection=connection, user=u, external_id=e) for u, e in pairs)
    return len(pairs)


def task_url(task_id: int) -> str:
    return tenant_url(f"/tasks/{task_id}/")


def staff_reachable(user_ids: list[int]) -> Iterator[tuple[Connection, Any, list[str]]]:
    """Every enabled work-app connection (WeCom, DingTalk) that knows some of these colleagues:
    the connection, its provider and their identities there ("userid", or for DingTalk to-dos
    "userid:unionid")."""
    keys = [key for key, cls in PROVIDERS.items() if STAFF_NOTIFIER in cls.capabilities]
    for connection in Connection.objects.filter(provider__in=keys, enabled=True):
        identities = list(
            StaffIdentity.objects.filter(connection=connection, user_id__in=user_ids).values_list(
                "external_id", flat=True
            )
        )
        if identities:
            yield connection, provider_for(connection), identities


def _push_task(event: Event) -> None:
    """Handled once per task assignment; a vendor outage raises, and the delivery is retried."""
    payload = event.payload
    for connection, provider, identities in staff_reachable(payload.get("recipient_ids") or []):
        ids = [identity.split(":", 1)[0] for identity in identities]

        def send(provider: Any = provider, ids: list[str] = ids) -> str:
            return str(
                provider.send_card(
                    to=ids,
                    title=_("New task: %(t)s") % {"t": payload.get("title", "")},
                    description=payload.get("due", ""),
                    url=task_url(int(payload["task_id"])),
                    button=_("Open the task"),
                )
            )

        try:
            vendor_call(
                connection, "task_notice", ",".join(ids), send, reference=f"task:{payload['task_id']}", retries=1
            )
            for identity in identities:
                if ":" in identity and hasattr(provider, "create_todo"):
                    union_id = identity.split(":", 1)[1]
                    vendor_call(
                        connection,
                        "todo",
                        union_id,
                        partial(
                            provider.create_todo,
                            union_id=union_id,
                            source_id=f"huiyuan-task-{payload['task_id']}",  # a second one is refused
                            subject=payload.get("title", ""),
                            description=payload.get("due", ""),
                            url=task_url(int(payload["task_id"])),
                            due_ms=payload.get("due_ms"),
                        ),
                        reference=f"task:{payload['task_id']}",
                        retries=1,
                    )
        except VendorRefused:
            logger.warning("integrations: %s refused a task notice; it is in the log", connection)
        except VendorError:
            raise  # worth another try: the delivery backs off and comes again


subscribe(
    "task.assigned", "integrations.staff_tasks", _push_task, label=gettext_lazy("Task notices to WeCom and DingTalk")
)


def staff_identities(*, actor: Any, connection_id: int) -> list[str]:
    check_permission(actor, "platform.integrations.manage")
    return [
        f"{i.user.username}={i.external_id}"
        for i in StaffIdentity.objects.filter(connection_id=connection_id).select_related("user")
    ]
