"""The audit log in words: ``members.member.update`` reads 修改会员, ``{"role": ["cashier",
"store_manager"]}`` reads 角色：收银员 → 店长. Action codes are ``<package>.<entity>.<verb>``, so an
entity table and a verb table name every action, new ones included, without a row per action."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import AuditEntry
from .roles import Role

ENTITIES: dict[str, Any] = {
    "member": gettext_lazy("member"),
    "field": gettext_lazy("member field"),
    "tag": gettext_lazy("tag"),
    "segment": gettext_lazy("segment"),
    "import": gettext_lazy("import"),
    "order": gettext_lazy("order"),
    "settings": gettext_lazy("settings"),
    "coupon": gettext_lazy("coupon"),
    "coupon_template": gettext_lazy("coupon template"),
    "earn_rule": gettext_lazy("points rule"),
    "points": gettext_lazy("points"),
    "stored_value": gettext_lazy("stored value"),
    "tier": gettext_lazy("tier"),
    "topup_plan": gettext_lazy("top-up plan"),
    "payment_password": gettext_lazy("payment password"),
    "opening_balances": gettext_lazy("opening balances"),
    "rule": gettext_lazy("automation rule"),
    "campaign": gettext_lazy("campaign"),
    "message": gettext_lazy("message"),
    "step": gettext_lazy("automation step"),
    "task": gettext_lazy("task"),
    "task_type": gettext_lazy("task flow"),
    "connection": gettext_lazy("integration"),
    "sms_template": gettext_lazy("SMS template"),
    "webhook": gettext_lazy("webhook"),
    "apikey": gettext_lazy("API key"),
    "events": gettext_lazy("event delivery"),
    "login": gettext_lazy("login"),
    "staff": gettext_lazy("staff member"),
    "store": gettext_lazy("store"),
    "tenant": gettext_lazy("merchant"),
    "dashboard": gettext_lazy("dashboard"),
    "schedule": gettext_lazy("scheduled report"),
}

VERBS: dict[str, Any] = {
    "create": gettext_lazy("created"),
    "update": gettext_lazy("changed"),
    "delete": gettext_lazy("deleted"),
    "archive": gettext_lazy("archived"),
    "restore": gettext_lazy("restored"),
    "reorder": gettext_lazy("rearranged"),
    "merge": gettext_lazy("merged"),
    "erase": gettext_lazy("erased"),
    "export": gettext_lazy("exported"),
    "import": gettext_lazy("imported"),
    "encoding": gettext_lazy("encoding changed"),
    "upload": gettext_lazy("uploaded"),
    "apply_segment": gettext_lazy("applied to a segment"),
    "rename": gettext_lazy("renamed"),
    "refund": gettext_lazy("refunded"),
    "issue_segment": gettext_lazy("issued to a segment"),
    "void": gettext_lazy("voided"),
    "set": gettext_lazy("set"),
    "adjust_request": gettext_lazy("adjustment requested"),
    "adjust_approve": gettext_lazy("adjustment approved"),
    "adjust_reject": gettext_lazy("adjustment rejected"),
    "refund_topup": gettext_lazy("top-up refunded"),
    "cancel": gettext_lazy("cancelled"),
    "resend": gettext_lazy("resent"),
    "retry": gettext_lazy("retried"),
    "move": gettext_lazy("moved on"),
    "save": gettext_lazy("saved"),
    "enable": gettext_lazy("switched on"),
    "disable": gettext_lazy("switched off"),
    "activate": gettext_lazy("switched on"),
    "deactivate": gettext_lazy("switched off"),
    "active": gettext_lazy("switched on"),
    "paused": gettext_lazy("paused"),
    "revoke": gettext_lazy("revoked"),
    "locked": gettext_lazy("locked after failed attempts"),
    "failed": gettext_lazy("failed"),
    "unlock": gettext_lazy("unlocked"),
    "accept_invite": gettext_lazy("invitation accepted"),
    "invite": gettext_lazy("invited"),
    "change_role": gettext_lazy("role changed"),
    "signup": gettext_lazy("signed up"),
}

# Words for change keys that are not a field of the audited model.
KEYS: dict[str, Any] = {
    "role": gettext_lazy("role"),
    "stores": gettext_lazy("stores"),
    "is_active": gettext_lazy("active"),
    "amount": gettext_lazy("amount"),
    "reason": gettext_lazy("reason"),
    "refund_no": gettext_lazy("refund number"),
    "order": gettext_lazy("order"),
    "rule": gettext_lazy("rule"),
    "issued": gettext_lazy("issued"),
    "skipped": gettext_lazy("skipped"),
    "members": gettext_lazy("members"),
    "from": gettext_lazy("from"),
    "to": gettext_lazy("to"),
    "title": gettext_lazy("title"),
    "pay": gettext_lazy("pay"),
    "bonus": gettext_lazy("bonus"),
    "kind": gettext_lazy("kind"),
    "type": gettext_lazy("type"),
    "count": gettext_lazy("count"),
    "rows": gettext_lazy("rows"),
    "file": gettext_lazy("file"),
    "custom_fields": gettext_lazy("custom fields"),
    "kept": gettext_lazy("kept member"),
    "merged": gettext_lazy("merged member"),
    "config": gettext_lazy("rules"),
    "choices": gettext_lazy("choices"),
    "min": gettext_lazy("minimum"),
    "max": gettext_lazy("maximum"),
    "field_type": gettext_lazy("type"),
    "key": gettext_lazy("key"),
}


def action_words(code: str) -> str:
    """``members.member.update`` → "member: changed" (修改会员)."""
    parts = code.split(".")
    entity, verb = (parts[-2], parts[-1]) if len(parts) >= 2 else ("", code)
    entity_label = ENTITIES.get(entity)
    verb_label = VERBS.get(verb)
    if entity_label is None or verb_label is None:
        return code  # an action this table has not learned yet: shown as is rather than hidden
    return _("%(entity)s: %(verb)s") % {"entity": entity_label, "verb": verb_label}


def _model_field(entry: AuditEntry, key: str) -> Any:
    try:
        model = apps.get_model(entry.object_type) if "." in entry.object_type else None
        return model._meta.get_field(key) if model is not None else None
    except (LookupError, ValueError, FieldDoesNotExist):
        return None


def _key_words(entry: AuditEntry, key: str) -> str:
    if key in KEYS:
        return str(KEYS[key])
    field = _model_field(entry, key)
    if field is not None and hasattr(field, "verbose_name"):
        return str(field.verbose_name)
    return key.replace("_", " ")


def with_choice_labels(field: Any, value: Any) -> Any:
    """A model field's stored codes as its choices' labels (gender "female" → 女), for one value
    or a [before, after] pair; values of fields without choices are returned as they are."""
    choices = dict(getattr(field, "choices", None) or []) if field is not None else {}
    if not choices:
        return value
    if isinstance(value, list):
        return [str(choices.get(v, v)) if v not in (None, "") else None for v in value]
    return str(choices.get(value, value)) if value not in (None, "") else value


def _change_words(entry: AuditEntry, key: str, value: Any) -> str:
    return value_words(with_choice_labels(_model_field(entry, key), value), key)


# Other packages teach the log their own change keys (members: custom field keys → labels).
VALUE_FORMATTERS: dict[str, Callable[[Any], str]] = {}


def value_words(value: Any, key: str = "") -> str:
    if key in VALUE_FORMATTERS:
        return VALUE_FORMATTERS[key](value)
    roles = dict(Role.choices)
    if value is None or value == "":
        return "—"
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if isinstance(value, str):
        return str(roles.get(value, value)) if key == "role" else value
    if isinstance(value, list):
        if len(value) == 2 and key not in ("rule", "order"):  # [before, after]
            return f"{value_words(value[0], key)} → {value_words(value[1], key)}"
        return ", ".join(value_words(v, key) for v in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{KEYS.get(k, k)}: {value_words(v, k)}" for k, v in value.items())
    return str(value)


def audit_entry_words(entry: AuditEntry) -> dict[str, Any]:
    """An audit entry as the log page shows it: who, what, on what, and each change in words."""
    entity = entry.action.split(".")[-2] if entry.action.count(".") >= 1 else ""
    return {
        "entry": entry,
        "who": entry.actor.display_name if entry.actor else (entry.actor_label or _("system")),
        "action": action_words(entry.action),
        "object": entry.object_repr,
        "object_kind": str(ENTITIES.get(entity, "")),
        "changes": [
            (_key_words(entry, key), _change_words(entry, key, value)) for key, value in (entry.changes or {}).items()
        ],
    }


def audit_subjects(entries: Any) -> list[tuple[str, str]]:
    """What the log can be narrowed to: each kind of object that has entries, in words, keyed by
    its action prefix (``members.member``)."""
    prefixes = {code.rsplit(".", 1)[0] for code in entries.order_by().values_list("action", flat=True).distinct()}
    named = [(prefix, str(ENTITIES.get(prefix.rsplit(".", 1)[-1], prefix))) for prefix in prefixes]
    return sorted(named, key=lambda item: item[1])
