from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..base import FieldType, FieldValueError
from ..registry import register


@register
class StoreReferenceField(FieldType):
    """A reference to one of the merchant's stores (e.g. "store of first visit"); accepts the
    store's id, code or name and stores the id."""

    type = "store"
    label = gettext_lazy("Store")
    operators = ("eq", "in", "is_empty", "not_empty")

    def find(self, raw: Any) -> int:
        from ...models import Store

        text = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw).strip()
        store = Store.objects.filter(code__iexact=text).first() or Store.objects.filter(name=text).first()
        if store is None and text.isdecimal():
            store = Store.objects.filter(pk=int(text)).first()
        if store is None:
            raise FieldValueError(_("No store with this code or name."))
        return store.pk

    def clean(self, raw: Any, field: Any) -> Any:
        return self.find(raw)

    def display(self, value: Any, field: Any) -> str:
        from ...models import Store

        store = Store.objects.filter(pk=value).first() if value else None
        return store.name if store else ""

    def filter_q(self, field: Any, op: str, value: Any) -> Q:
        if op == "eq":
            return Q(custom_fields__contains={field.key: int(value)})
        if op == "in":
            q = Q(pk__in=[])
            for item in value:
                q |= Q(custom_fields__contains={field.key: int(item)})
            return q
        return super().filter_q(field, op, value)
