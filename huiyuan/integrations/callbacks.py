"""Callbacks from vendors: WeCom's URL check and encrypted events, verified and decrypted with the
connection's keys; every one recorded in the delivery log."""

from __future__ import annotations

from typing import Any

import defusedxml.ElementTree as SafeXML  # noqa: N812 - the XML is the vendor's, parsed safely

from .crypto import credentials_decrypt
from .models import Connection, VendorCall
from .wecom_crypto import CallbackRejected, WeComCrypto


def _crypto(connection_id: int) -> tuple[Connection, WeComCrypto]:
    connection = Connection.objects.filter(pk=connection_id, provider="wecom", enabled=True).first()
    if connection is None:
        raise CallbackRejected("no such connection")
    secrets = credentials_decrypt(connection.credentials)
    if not secrets.get("callback_token") or not secrets.get("callback_aes_key"):
        raise CallbackRejected("callback keys are not set")
    return connection, WeComCrypto(
        secrets["callback_token"], secrets["callback_aes_key"], connection.settings["corp_id"]
    )


def wecom_verify(connection_id: int, params: dict[str, str]) -> str:
    """The URL check WeCom makes when the callback is saved: the decrypted echo, nothing else."""
    _connection, crypto = _crypto(connection_id)
    echo = params.get("echostr", "")
    crypto.check(params.get("msg_signature", ""), params.get("timestamp", ""), params.get("nonce", ""), echo)
    return crypto.decrypt(echo)


def wecom_event(connection_id: int, params: dict[str, str], body: bytes) -> dict[str, Any]:
    connection, crypto = _crypto(connection_id)
    try:
        envelope = SafeXML.fromstring(body)
    except SafeXML.ParseError as exc:
        raise CallbackRejected("not XML") from exc
    encrypted = envelope.findtext("Encrypt") or ""
    crypto.check(params.get("msg_signature", ""), params.get("timestamp", ""), params.get("nonce", ""), encrypted)
    message = SafeXML.fromstring(crypto.decrypt(encrypted).encode())
    fields = {child.tag: (child.text or "") for child in message}
    if fields.get("Event") == "change_external_contact" and fields.get("ChangeType") == "add_external_contact":
        customer_link(connection, fields.get("ExternalUserID", ""), fields.get("UserID", ""))
    VendorCall.objects.create(
        connection=connection,
        provider="wecom",
        operation="callback",
        recipient=fields.get("FromUserName", "")[:100],
        status=VendorCall.Status.OK,
        vendor_message_id=fields.get("MsgId", "")[:120],
        error_message=f"{fields.get('MsgType', '')}: {fields.get('Event') or fields.get('Content', '')}"[:500],
    )
    return fields


def dingtalk_event(connection_id: int, params: dict[str, str], body: bytes) -> dict[str, Any]:
    """An encrypted DingTalk event (the URL check is one too: ``check_url``); the answer DingTalk
    requires is the encrypted word "success", signed."""
    import json
    import secrets
    import time

    connection = Connection.objects.filter(pk=connection_id, provider="dingtalk", enabled=True).first()
    if connection is None:
        raise CallbackRejected("no such connection")
    keys = credentials_decrypt(connection.credentials)
    if not keys.get("callback_token") or not keys.get("callback_aes_key"):
        raise CallbackRejected("callback keys are not set")
    crypto = WeComCrypto(keys["callback_token"], keys["callback_aes_key"], connection.settings["app_key"])
    try:
        encrypted = json.loads(body or b"{}").get("encrypt", "")
    except ValueError as exc:
        raise CallbackRejected("not JSON") from exc
    timestamp = params.get("timestamp") or params.get("timeStamp", "")
    crypto.check(
        params.get("msg_signature") or params.get("signature", ""), timestamp, params.get("nonce", ""), encrypted
    )
    event = json.loads(crypto.decrypt(encrypted))
    VendorCall.objects.create(
        connection=connection,
        provider="dingtalk",
        operation="callback",
        recipient=str(event.get("StaffId", ""))[:100],
        status=VendorCall.Status.OK,
        error_message=str(event.get("EventType", ""))[:500],
    )
    stamp, nonce = str(int(time.time() * 1000)), secrets.token_hex(4)
    answer = crypto.encrypt("success")
    return {
        "msg_signature": crypto.signature(stamp, nonce, answer),
        "timeStamp": stamp,
        "nonce": nonce,
        "encrypt": answer,
    }


def customer_link(connection: Connection, external_userid: str, staff_userid: str) -> Any:
    """A member became a staff member's WeCom customer: find them by the phone the staff noted
    (remark_mobiles) and remember who they are on WeCom, so rules can tag them there."""
    from huiyuan.members.models import Member
    from huiyuan.platform.phones import InvalidPhone, normalize_phone

    from .models import MemberIdentity
    from .services import provider_for, vendor_call

    if not external_userid:
        return None
    provider: Any = provider_for(connection)
    details = vendor_call(connection, "customer", external_userid, lambda: provider.customer(external_userid))
    phones: list[str] = []
    for follower in details.get("follow_user") or []:
        if follower.get("userid") == staff_userid or not staff_userid:
            phones += follower.get("remark_mobiles") or []
    for raw in phones:
        try:
            member = Member.objects.filter(phone=normalize_phone(str(raw))).first()
        except InvalidPhone:
            continue
        if member is not None:
            identity, _created = MemberIdentity.objects.update_or_create(
                connection=connection,
                external_id=external_userid,
                defaults={"member": member, "union_id": staff_userid},
            )
            return identity
    return None
