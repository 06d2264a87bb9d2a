"""Finding members by the pinyin of their names (张三 by "zhangsan", "zhang", "zs"), including names
written by an import, within the searcher's stores only."""

from __future__ import annotations

from huiyuan.members.models import Member
from huiyuan.members.pinyin import name_keys, pinyin_refresh
from huiyuan.members.selectors import member_list
from huiyuan.members.services import member_enroll, member_update

from .conftest import World


def test_keys_cover_full_pinyin_initials_and_both_readings_of_a_surname() -> None:
    keys = name_keys("曾小贤")
    assert {"zengxiaoxian", "zeng", "zxx", "cengxiaoxian", "cxx"} <= set(keys)
    assert name_keys("Tom") == [] and name_keys("") == []
    assert "zs" in name_keys("张三") and "zhangsan" in name_keys("张三")


def test_a_store_manager_finds_members_by_pinyin_in_their_stores_only(in_alpha: World) -> None:
    mine = member_enroll(
        actor=in_alpha.hq, data={"phone": "13912340001", "name": "张三丰", "home_store_id": in_alpha.store_a.pk}
    )
    member_enroll(
        actor=in_alpha.hq, data={"phone": "13912340002", "name": "张山", "home_store_id": in_alpha.store_b.pk}
    )
    found = list(member_list(actor=in_alpha.manager_a, search="zsf").values_list("pk", flat=True))
    assert found == [mine.pk]
    assert mine.pk in member_list(actor=in_alpha.manager_a, search="ZhangSan").values_list("pk", flat=True)
    assert not member_list(actor=in_alpha.manager_a, search="zhangshan").exists()  # 张山 is store B's
    assert member_list(actor=in_alpha.hq, search="zhangshan").count() == 1


def test_a_renamed_member_and_names_written_in_bulk_are_found_after_refresh(in_alpha: World) -> None:
    member = member_enroll(actor=in_alpha.hq, data={"phone": "13912340003", "name": "李雷"})
    member_update(actor=in_alpha.hq, member_id=member.pk, data={"name": "韩梅梅"})
    assert list(member_list(actor=in_alpha.hq, search="hmm").values_list("pk", flat=True)) == [member.pk]
    Member.objects.filter(pk=member.pk).update(name="王小明")  # as COPY writes it: keys are stale
    assert not member_list(actor=in_alpha.hq, search="wxm").exists()
    assert pinyin_refresh() >= 1
    assert list(member_list(actor=in_alpha.hq, search="wxm").values_list("pk", flat=True)) == [member.pk]
