"""Tags: manual ones staff apply, and automatic ones defined by a segment rule, re-evaluated when a
member's statistics change and nightly. ``MemberTag`` records who or which rule applied a tag."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import NotFound, ValidationFailed
from huiyuan.platform.events.services import event_record

from .models import Member, MemberHistory, MemberTag, Tag
from .segments import compile_rule, register_segment_action, segment_members
from .selectors import member_access_by_id


def tag_list() -> QuerySet[Tag]:
    return Tag.objects.all()


def tag_create(*, actor: Any, name: str, kind: str = Tag.Kind.MANUAL, rule: Any = None, color: str = "") -> Tag:
    check_permission(actor, "members.segment.manage")
    name = name.strip()
    errors: dict[str, list[str]] = {}
    if not name or len(name) > 50:
        errors["name"] = [_("Enter a name of at most 50 characters.")]
    elif Tag.objects.filter(name=name).exists():
        errors["name"] = [_("A tag with this name already exists.")]
    if kind not in Tag.Kind.values:
        errors["kind"] = [_("Unknown kind.")]
    if errors:
        raise ValidationFailed(fields=errors)
    if kind == Tag.Kind.AUTO:
        if rule is None:
            raise ValidationFailed(fields={"rule": [_("An automatic tag needs a rule.")]})
        compile_rule(rule, actor=actor)
    with transaction.atomic():
        tag = Tag.objects.create(name=name, kind=kind, rule=rule if kind == Tag.Kind.AUTO else None, color=color[:16])
        audit_record(actor=actor, action="members.tag.create", obj=tag, changes={"kind": kind, "rule": rule})
    if kind == Tag.Kind.AUTO:
        auto_tag_evaluate(tag)
    return tag


def tag_list_with_counts() -> QuerySet[Tag]:
    """Tags with how many members carry each, for the tag page."""
    from django.db.models import Count

    return Tag.objects.annotate(member_count=Count("member_tags")).order_by("kind", "name")


def tag_rename(*, actor: Any, tag_id: int, name: str) -> Tag:
    check_permission(actor, "members.segment.manage")
    name = name.strip()
    with transaction.atomic():
        tag = Tag.objects.select_for_update().filter(pk=tag_id).first()
        if tag is None:
            raise NotFound()
        if not name or len(name) > 50:
            raise ValidationFailed(fields={"name": [_("Enter a name of at most 50 characters.")]})
        if Tag.objects.filter(name=name).exclude(pk=tag.pk).exists():
            raise ValidationFailed(fields={"name": [_("A tag with this name already exists.")]})
        if name != tag.name:
            audit_record(actor=actor, action="members.tag.rename", obj=tag, changes={"name": [tag.name, name]})
            tag.name = name
            tag.save(update_fields=["name"])
    return tag


def tag_delete(*, actor: Any, tag_id: int) -> int:
    """Remove a tag from every member and delete it; answers how many members carried it. Rules and
    segments that name it then fail to compile with a clear error, never silently match nobody."""
    check_permission(actor, "members.segment.manage")
    with transaction.atomic():
        tag = Tag.objects.select_for_update().filter(pk=tag_id).first()
        if tag is None:
            raise NotFound()
        carried = MemberTag.objects.filter(tag=tag).count()
        audit_record(actor=actor, action="members.tag.delete", obj=tag, changes={"name": tag.name, "members": carried})
        MemberTag.objects.filter(tag=tag).delete()
        tag.delete()
    return carried


def _manual_tag(tag_id: int) -> Tag:
    tag = Tag.objects.filter(pk=tag_id).first()
    if tag is None:
        raise NotFound()
    if tag.kind != Tag.Kind.MANUAL:
        raise ValidationFailed(fields={"tag": [_("Automatic tags follow their rule and cannot be set by hand.")]})
    return tag


def tag_apply(*, actor: Any, member_id: int, tag_id: int) -> bool:
    check_permission(actor, "members.member.update")
    member = member_access_by_id(actor=actor, member_id=member_id)
    tag = _manual_tag(tag_id)
    from .services import history_record

    with transaction.atomic():
        _, created = MemberTag.objects.get_or_create(member=member, tag=tag, defaults={"applied_by": actor})
        if created:
            history_record(member.pk, MemberHistory.Action.TAGGED, {"tag": tag.name}, actor=actor)
            tag_added_record(member.pk, tag)
    return created


def tag_remove(*, actor: Any, member_id: int, tag_id: int) -> bool:
    check_permission(actor, "members.member.update")
    member = member_access_by_id(actor=actor, member_id=member_id)
    tag = _manual_tag(tag_id)
    from .services import history_record

    with transaction.atomic():
        deleted, _ = MemberTag.objects.filter(member=member, tag=tag).delete()
        if deleted:
            history_record(member.pk, MemberHistory.Action.UNTAGGED, {"tag": tag.name}, actor=actor)
    return bool(deleted)


def tag_segment(*, actor: Any, tag_id: int, rule: Any) -> int:
    """ "Act on this segment": give every member of the segment (within the actor's stores) a
    manual tag. Returns how many members got it."""
    check_permission(actor, "members.segment.manage")
    tag = _manual_tag(tag_id)
    ids = list(segment_members(actor=actor, rule=rule).exclude(member_tags__tag=tag).values_list("pk", flat=True))
    MemberTag.objects.bulk_create(
        [MemberTag(member_id=i, tag=tag, applied_by=actor) for i in ids], ignore_conflicts=True, batch_size=5000
    )
    audit_record(actor=actor, action="members.tag.apply_segment", obj=tag, changes={"members": len(ids), "rule": rule})
    return len(ids)


register_segment_action("add_tag", tag_segment, params=("tag_id",))


def auto_tag_evaluate(tag: Tag, member_ids: list[int] | None = None) -> tuple[int, int]:
    """Make the tag's members exactly those matching its rule (optionally only among
    ``member_ids``). Returns (added, removed); running it twice changes nothing the second time."""
    if tag.kind != Tag.Kind.AUTO or not tag.rule:
        return 0, 0
    matching = Member.objects.filter(compile_rule(tag.rule))
    current = MemberTag.objects.filter(tag=tag)
    if member_ids is not None:
        matching = matching.filter(pk__in=member_ids)
        current = current.filter(member_id__in=member_ids)
    with transaction.atomic():
        wanted = set(matching.values_list("pk", flat=True))
        have = set(current.values_list("member_id", flat=True))
        MemberTag.objects.bulk_create(
            [MemberTag(member_id=i, tag=tag, applied_by_rule=True) for i in wanted - have],
            ignore_conflicts=True,
            batch_size=5000,
        )
        removed, _ = current.filter(member_id__in=have - wanted).delete()
        Tag.objects.filter(pk=tag.pk).update(evaluated_at=timezone.now())
    return len(wanted - have), removed


def auto_tags_evaluate(member_ids: list[int] | None = None) -> dict[str, tuple[int, int]]:
    return {tag.name: auto_tag_evaluate(tag, member_ids) for tag in Tag.objects.filter(kind=Tag.Kind.AUTO)}


def tag_set_by_rule(*, member_id: int, tag_id: int, present: bool, source: str) -> bool:
    """An automation rule adds or removes a manual tag (no staff actor: the rule was approved when
    it was saved). Returns whether anything changed; doing it twice changes nothing."""
    tag = _manual_tag(tag_id)
    from .services import history_record

    with transaction.atomic():
        if present:
            _, changed = MemberTag.objects.get_or_create(
                member_id=member_id, tag=tag, defaults={"applied_by_rule": True}
            )
            if changed:
                history_record(member_id, MemberHistory.Action.TAGGED, {"tag": tag.name}, actor=None, source=source)
                tag_added_record(member_id, tag)
        else:
            deleted, _ = MemberTag.objects.filter(member_id=member_id, tag=tag).delete()
            changed = bool(deleted)
            if changed:
                history_record(member_id, MemberHistory.Action.UNTAGGED, {"tag": tag.name}, actor=None, source=source)
    return changed


def tag_added_record(member_id: int, tag: Tag) -> None:
    event_record(
        "tag.added",
        {"member_id": member_id, "tag_id": tag.pk, "tag": tag.name},
        aggregate_type="member",
        aggregate_id=member_id,
    )
