"""Words, not codes: the Chinese catalogue has every message of the source translated, and the
console's pages, rendered in Chinese for each role with real data behind them (a custom field
changed, a sale refunded, tags, tasks, audit entries), show no raw codes: no snake_case values,
no operation codes, no Python reprs, no English words outside a short list of names."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from huiyuan.loyalty.checkout import checkout_commit
from huiyuan.loyalty.refunds import order_refund
from huiyuan.members.custom_fields import custom_field_create
from huiyuan.members.services import member_update
from huiyuan.members.tags import tag_apply, tag_create

from .conftest import World
from .support.pages import menu_pages
from .test_console import console

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "huiyuan" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def test_every_message_in_the_chinese_catalogue_is_translated() -> None:
    catalogue = polib.pofile(str(CATALOGUE))
    untranslated = [e.msgid for e in catalogue.untranslated_entries()]
    fuzzy = [e.msgid for e in catalogue.fuzzy_entries()]
    assert untranslated == [] and fuzzy == [], f"untranslated: {untranslated[:20]}, fuzzy: {fuzzy[:20]}"


@pytest.mark.slow
def test_the_chinese_catalogue_holds_every_message_of_the_source(tmp_path: Path) -> None:
    """makemessages over a copy of the source: a message added to code or templates but not to the
    catalogue (so shown in English to a Chinese user) fails here."""
    if shutil.which("xgettext") is None:
        pytest.skip("GNU gettext is not installed (apt-get install gettext)")
    copy = tmp_path / "huiyuan"
    shutil.copytree(ROOT / "huiyuan", copy, ignore=shutil.ignore_patterns("static", "__pycache__", "*.mo"))
    subprocess.run(  # noqa: S603 - our own manage.py on a copy of our source
        [sys.executable, str(ROOT / "manage.py"), "makemessages", "-l", "zh_Hans", "--no-location", "--no-obsolete"],
        cwd=copy,
        check=True,
        capture_output=True,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    fresh = {e.msgid for e in polib.pofile(str(copy / "locale/zh_Hans/LC_MESSAGES/django.po"))}
    known = {e.msgid for e in polib.pofile(str(CATALOGUE)) if e.msgstr or e.msgstr_plural}
    missing = sorted(fresh - known)
    assert missing == [], f"messages with no Chinese translation: {missing[:30]}"


class _VisibleText(HTMLParser):
    """The text a reader sees: no scripts, styles, attribute values or form field values."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code", "textarea", "template"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code", "textarea", "template"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


RAW_CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b|\b[a-z_]+\.[a-z_]+\.[a-z_]+\b|\{'|\bNone\b|\bTrue\b|\bFalse\b")
ENGLISH_WORD = re.compile(r"\b[A-Za-z]{4,}\b")
# Names that stay in Latin letters in a Chinese console: the tenants' own data, brands, formats.
ALLOWED_WORDS = {
    "Alpha",
    "Beta",
    "Excel",
    "XLSX",
    "WeChat",
    "Webhook",
    "webhook",
    "Webhooks",
    "DingTalk",
    "WeCom",
    "Kingdee",
    "Aliyun",
    "Tencent",
    "SMTP",
    "HTTPS",
    "JSON",
    "pinyin",
    "zhangsan",
    "favourite",
    "drink",
    "Echo",
    "English",  # the language switch names each language in itself
    "WORDS",  # this test's order number
    "xlsx",  # a file type, as Excel names it
}


def _prepare(world: World) -> str:
    with tenant_context(world.tenant):
        field = custom_field_create(
            actor=world.hq, label="辣度", field_type="single_choice", config={"choices": ["微辣", "特辣"]}
        )
        member_update(actor=world.hq, member_id=world.member_a.pk, data={"custom_fields": {field.key: "微辣"}})
        member_update(actor=world.hq, member_id=world.member_a.pk, data={"gender": "female", "city": "杭州"})
        tag = tag_create(actor=world.hq, name="老客")
        tag_apply(actor=world.hq, member_id=world.member_a.pk, tag_id=tag.pk)
        checkout_commit(
            actor=world.hq,
            data={
                "order_no": "WORDS-1",
                "store": "A001",
                "member": {"id": world.member_a.pk},
                "lines": [{"amount": "50"}],
            },
        )
        order_refund(actor=world.hq, order_no="WORDS-1", refund_no="WORDS-R1", amount="20", reason="少一杯")
    connection.set_schema_to_public()
    return str(world.member_a.pk)


# Beyond every menu page of the role: pages that show the data prepared above.
DETAIL_PAGES = {
    "hq": [
        "/members/{member}/",
        "/members/{member}/ledger/",
        "/members/{member}/edit/",
        "/members/new/",
        "/orders/WORDS-1/",
        "/automation/settings/",
        "/automation/messages/",
        "/automation/flows/",
        "/integrations/webhooks/",
        "/deliveries/",
    ],
    "manager_a": ["/members/{member}/", "/orders/WORDS-1/"],
    "cashier_b": [],
    "marketing": [],
}


@pytest.mark.parametrize("persona", sorted(DETAIL_PAGES))
def test_pages_in_chinese_show_words_not_codes(alpha: World, persona: str) -> None:
    member = _prepare(alpha)
    client = console(alpha, persona)
    # The merchant's own data (login names) may look like codes; they are not ours to translate.
    with tenant_context(alpha.tenant):
        from huiyuan.platform.models import User

        data = {part for login in User.objects.values_list("username", flat=True) for part in re.split(r"[@.]", login)}
    connection.set_schema_to_public()
    found: dict[str, list[str]] = {}
    for path in [*menu_pages(alpha, persona), *DETAIL_PAGES[persona]]:
        response = client.get(path.format(member=member))
        assert response.status_code == 200, path
        text = visible_text(response.content.decode())
        codes = [c for c in RAW_CODE.findall(text) if c not in data]
        english = [w for w in ENGLISH_WORD.findall(text) if w not in ALLOWED_WORDS and w not in data]
        if codes or english:
            found[path] = sorted(set(codes + english))
    assert found == {}, f"raw codes or English words on Chinese pages: {found}"


def test_a_malformed_json_body_and_a_short_signup_password_are_answered_in_chinese(alpha: World) -> None:
    from django.test import Client

    from .conftest import api

    client = api(alpha, "hq")
    broken = client.post("/api/v1/members", "{bad", content_type="application/json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert broken.status_code == 400
    assert broken.json()["error"]["message"] == "请求内容不是有效的 JSON（第 1 行第 2 列）。"
    signup = Client(HTTP_HOST="localhost", HTTP_ACCEPT_LANGUAGE="zh-hans").post(
        "/", {"name": "测试商户", "subdomain": "shortpw", "owner_phone": "13912340000", "password": "a1"}
    )
    text = visible_text(signup.content.decode())
    assert "密码至少需要 8 个字符" in text and "too short" not in text
