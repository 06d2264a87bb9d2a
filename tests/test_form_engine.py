"""The form engine: each field type's validation, and definitions that change without losing data."""

from __future__ import annotations

from typing import Any

import pytest

from huiyuan.members import custom_fields
from huiyuan.members.models import Member
from huiyuan.members.services import member_update
from huiyuan.platform.errors import PermissionDenied, ValidationFailed

from .conftest import World


def make(world: World, field_type: str, config: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return custom_fields.custom_field_create(
        actor=world.hq, label=f"{field_type} field", field_type=field_type, config=config or {}, **kwargs
    )


def clean(field: Any, raw: Any) -> tuple[Any, str | None]:
    values, errors = custom_fields.clean_custom_values({field.key: raw}, partial=True)
    return values.get(field.key), errors.get(field.key)


CASES: list[tuple[str, dict[str, Any], Any, Any]] = [
    # type, config, input, expected stored value (or an Exception for a rejection)
    ("text", {"max_length": 5}, "  你好  世界 ", "你好 世界"),
    ("text", {"max_length": 5}, "六个字太长了", ValueError),
    ("text", {"pattern": r"[A-Z]{2}\d{3}", "pattern_message": "如 AB123"}, "AB123", "AB123"),
    ("text", {"pattern": r"[A-Z]{2}\d{3}"}, "ab123", ValueError),
    ("text", {}, 12345.0, "12345"),
    ("long_text", {}, "第一行\n第二行", "第一行\n第二行"),
    ("number", {"min": 0, "max": 10}, "７", 7),
    ("number", {"min": 0, "max": 10}, 11, ValueError),
    ("number", {}, "3.5", ValueError),
    ("number", {}, "abc", ValueError),
    ("decimal", {"decimal_places": 2}, "¥1,234.5", "1234.50"),
    ("decimal", {"decimal_places": 2}, "1.234", ValueError),
    ("decimal", {"min": "0"}, "-1", ValueError),
    ("date", {}, "1990/5/20", "1990-05-20"),
    ("date", {}, "1990年5月20日", "1990-05-20"),
    ("date", {}, 33013, "1990-05-20"),  # Excel serial number
    ("date", {}, "2023-02-30", ValueError),
    ("date", {"min": "2000-01-01"}, "1999-12-31", ValueError),
    ("datetime", {}, "2024-03-08 14:30", "2024-03-08T06:30:00+00:00"),  # Asia/Shanghai to UTC
    ("datetime", {}, "yesterday", ValueError),
    ("single_choice", {"choices": ["咖啡", "茶"]}, " 茶 ", "茶"),
    ("single_choice", {"choices": ["Coffee", "Tea"]}, "tea", "Tea"),
    ("single_choice", {"choices": ["咖啡", "茶"]}, "果汁", ValueError),
    ("multiple_choice", {"choices": ["咖啡", "茶", "甜点"]}, "甜点，咖啡", ["咖啡", "甜点"]),
    ("multiple_choice", {"choices": ["咖啡", "茶"]}, ["茶", "可乐"], ValueError),
    ("boolean", {}, "是", True),
    ("boolean", {}, "否", False),
    ("boolean", {}, 1.0, True),
    ("boolean", {}, "maybe", ValueError),
    ("phone", {}, "139-0013-9000", "+8613900139000"),
    ("phone", {}, "12345", ValueError),
    ("email", {}, " Li.Lei@Example.CN ", "li.lei@example.cn"),
    ("email", {}, "not-mail", ValueError),
]


@pytest.mark.parametrize(("field_type", "config", "raw", "expected"), CASES)
def test_field_type_validation(
    in_alpha: World, field_type: str, config: dict[str, Any], raw: Any, expected: Any
) -> None:
    field = make(in_alpha, field_type, config)
    value, error = clean(field, raw)
    if expected is ValueError:
        assert error, f"{field_type} accepted {raw!r}"
    else:
        assert error is None, error
        assert value == expected


def test_store_reference_accepts_code_or_name(in_alpha: World) -> None:
    field = make(in_alpha, "store")
    assert clean(field, "a001") == (in_alpha.store_a.pk, None)
    assert clean(field, in_alpha.store_b.name) == (in_alpha.store_b.pk, None)
    assert clean(field, "Z999")[1]


@pytest.mark.parametrize(
    ("field_type", "config", "field"),
    [
        ("single_choice", {}, "config"),
        ("single_choice", {"choices": ["a", "a"]}, "config"),
        ("number", {"min": 5, "max": 1}, "config"),
        ("text", {"pattern": "("}, "config"),
        ("text", {"colour": "red"}, "config"),
        ("rocket", {}, "field_type"),
    ],
)
def test_bad_definitions_are_rejected(in_alpha: World, field_type: str, config: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        make(in_alpha, field_type, config)
    assert field in exc.value.fields


def test_keys_are_unique_and_cannot_shadow_core_fields(in_alpha: World) -> None:
    make(in_alpha, "text", key="hobby")
    for key in ("hobby", "phone", "Bad Key"):
        with pytest.raises(ValidationFailed) as exc:
            make(in_alpha, "text", key=key)
        assert "key" in exc.value.fields


def test_required_and_unique_rules(in_alpha: World) -> None:
    required = make(in_alpha, "text", key="wechat_id", required=True, unique=True)
    _values, errors = custom_fields.clean_custom_values({})
    assert required.key in errors  # required on creation
    member_update(actor=in_alpha.hq, member_id=in_alpha.member_a.pk, data={"custom_fields": {"wechat_id": "wx_1"}})
    with pytest.raises(ValidationFailed) as exc:
        member_update(actor=in_alpha.hq, member_id=in_alpha.member_b.pk, data={"custom_fields": {"wechat_id": "wx_1"}})
    assert "custom_fields.wechat_id" in exc.value.fields


def test_rename_reorder_and_archive_keep_every_value(in_alpha: World) -> None:
    drink = make(in_alpha, "single_choice", {"choices": ["咖啡", "茶"]}, key="drink")
    size = make(in_alpha, "number", key="size")
    member_update(
        actor=in_alpha.hq, member_id=in_alpha.member_a.pk, data={"custom_fields": {"drink": "茶", "size": 42}}
    )
    custom_fields.custom_field_update(actor=in_alpha.hq, field_id=drink.pk, label="最爱饮品")
    custom_fields.custom_field_reorder(actor=in_alpha.hq, ordered_ids=[size.pk, drink.pk])
    assert [f.key for f in custom_fields.custom_field_list()][:2] == ["size", "drink"]
    custom_fields.custom_field_set_archived(actor=in_alpha.hq, field_id=drink.pk, archived=True)
    assert "drink" not in custom_fields.active_fields_by_key()
    assert Member.objects.get(pk=in_alpha.member_a.pk).custom_fields == {"drink": "茶", "size": 42}
    # Writes elsewhere do not drop the archived value...
    member_update(actor=in_alpha.hq, member_id=in_alpha.member_a.pk, data={"custom_fields": {"size": 43}})
    assert Member.objects.get(pk=in_alpha.member_a.pk).custom_fields == {"drink": "茶", "size": 43}
    # ...and restoring shows it again under its new label.
    custom_fields.custom_field_set_archived(actor=in_alpha.hq, field_id=drink.pk, archived=False)
    restored = custom_fields.active_fields_by_key()["drink"]
    assert restored.label == "最爱饮品"


def test_archived_field_cannot_be_written(in_alpha: World) -> None:
    field = make(in_alpha, "text", key="old")
    custom_fields.custom_field_set_archived(actor=in_alpha.hq, field_id=field.pk, archived=True)
    with pytest.raises(ValidationFailed) as exc:
        member_update(actor=in_alpha.hq, member_id=in_alpha.member_a.pk, data={"custom_fields": {"old": "x"}})
    assert "custom_fields.old" in exc.value.fields


def test_only_hq_designs_fields(in_alpha: World) -> None:
    for persona in ("manager_a", "marketing", "cashier_b"):
        with pytest.raises(PermissionDenied):
            custom_fields.custom_field_create(actor=in_alpha.persona(persona), label="x", field_type="text")
