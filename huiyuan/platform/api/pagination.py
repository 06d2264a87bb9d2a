from typing import Any

from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def paginated(serializer_class: type[Any]) -> Any:
    """The OpenAPI shape of a page of ``serializer_class`` (``count``, ``next``, ``previous``,
    ``results``), for views that paginate by hand."""
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    name = f"Paginated{serializer_class.__name__.removesuffix('Serializer')}List"
    if name not in _PAGES:
        _PAGES[name] = inline_serializer(
            name=name,
            fields={
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": serializer_class(many=True),
            },
        )
    return _PAGES[name]


_PAGES: dict[str, Any] = {}

# Raw schemas for answers that are plain JSON (configuration views build them from dicts).
JSON_OBJECT_LIST = {200: {"type": "array", "items": {"type": "object", "additionalProperties": True}}}
