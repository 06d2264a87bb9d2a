"""Export of the current segment (or all visible members) to CSV or XLSX: store-scoped like the
list, phones masked for roles without the PII permission, audited."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext as _

from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.spreadsheets import csv_bytes, xlsx_bytes

from .custom_fields import custom_field_list
from .fields import registry
from .segments import segment_members
from .selectors import member_list, visible_phone

BATCH = 5000


def _columns() -> list[tuple[str, Any]]:
    return [
        (_("Card number"), lambda m, a: m.card_no),
        (_("Name"), lambda m, a: m.name),
        (_("Phone"), lambda m, a: visible_phone(a, m, for_display=True)),
        (_("Gender"), lambda m, a: m.get_gender_display()),
        (_("Birthday"), lambda m, a: m.birthday.isoformat() if m.birthday else ""),
        (_("Province"), lambda m, a: m.province),
        (_("City"), lambda m, a: m.city),
        (_("Home store"), lambda m, a: m.home_store.code if m.home_store else ""),
        (_("Joined at"), lambda m, a: m.created_at.strftime("%Y-%m-%d %H:%M")),
        (_("Orders"), lambda m, a: m.order_count),
        (_("Total spend"), lambda m, a: str(m.total_spend)),
        (_("Last purchase"), lambda m, a: m.last_purchase_at.strftime("%Y-%m-%d") if m.last_purchase_at else ""),
        (_("Lifecycle"), lambda m, a: m.get_lifecycle_display()),
    ]


def _rows(actor: Any, rule: Any) -> tuple[list[str], Iterator[list[Any]]]:
    check_permission(actor, "members.member.export")
    qs = segment_members(actor=actor, rule=rule) if rule else member_list(actor=actor)
    qs = qs.select_related("home_store").order_by("pk")
    columns = _columns()
    fields = list(custom_field_list())
    headers = [str(name) for name, _fn in columns] + [f.label for f in fields]

    def rows() -> Iterator[list[Any]]:
        for member in qs.iterator(chunk_size=BATCH):
            yield [fn(member, actor) for _name, fn in columns] + [
                registry.get(f.field_type).export(member.custom_fields.get(f.key), f) for f in fields
            ]

    return headers, rows()


def export_members(*, actor: Any, rule: Any = None, file_format: str = "csv") -> tuple[bytes, int]:
    headers, rows = _rows(actor, rule)
    if file_format == "xlsx":
        content, count = xlsx_bytes(str(_("Members")), headers, rows)
    else:
        content, count = csv_bytes(headers, rows)
    audit_record(
        actor=actor,
        action="members.member.export",
        object_type="members.member",
        changes={"rows": count, "format": file_format, "rule": rule},
    )
    return content, count
