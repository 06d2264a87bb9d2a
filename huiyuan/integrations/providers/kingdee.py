"""Kingdee K3Cloud (金蝶云星空) WebAPI: a thin httpx client (``vendor-protocols.md`` §3.1; the official
SDK turns TLS checks off for every request). Login by app secret, the session shared by every worker
and renewed once when K3Cloud says it was lost (MsgCode 1), Save of finance documents, and a bill
query to tell whether a document is already there.

Field keys of the documents are the standard ones of 收款单 / 收款退款单 (AR_RECEIVEBILL /
AR_REFUNDBILL) and are marked unverified against a live instance in the protocol notes; the mapping
screen supplies the merchant's own numbers (customer, department, settlement type, accounts)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..registry import (
    FINANCE_SYNC,
    Field,
    Provider,
    TokenExpired,
    VendorError,
    VendorRefused,
    VendorThrottled,
    VendorUnavailable,
    register_provider,
)
from ..tokens import token_forget, token_get

SERVICE = "Kingdee.BOS.WebApi.ServicesStub.{service}.{method}.common.kdsvc"
SESSION_LOST, CALL_LIMIT = 1, 14


@register_provider
class KingdeeK3Cloud(Provider):
    key = "kingdee_k3cloud"
    label = _("Kingdee K3Cloud (金蝶云星空)")
    capabilities = frozenset({FINANCE_SYNC})
    credential_fields = (
        Field("app_id", _("App ID (第三方系统登录授权)")),
        Field("app_secret", _("App Secret"), secret=True),
    )
    setting_fields = (
        Field("server_url", _("Server address"), help=_("e.g. http://erp.example.cn/k3cloud/")),
        Field("acct_id", _("Data centre ID (账套)")),
        Field("username", _("User")),
        Field("org_number", _("Organisation number"), default="100"),
        Field("customer_number", _("Customer for member payments"), help=_("A customer in K3Cloud, e.g. CUST0001")),
        Field("department_number", _("Sales department"), required=False),
        Field("settlement_type", _("Settlement type number"), default="JSFS01_SYS"),
        Field("principal_purpose", _("Purpose for stored-value principal"), default="SFKYT01_SYS"),
        Field("bonus_purpose", _("Purpose for stored-value bonus"), default="SFKYT02_SYS"),
        Field("points_purpose", _("Purpose for points used as cash"), default="SFKYT03_SYS"),
    )
    rate_per_second = 5.0

    @property
    def url(self) -> str:
        return str(self.settings["server_url"]).rstrip("/") + "/"

    @property
    def session_name(self) -> str:
        return f"k3cloud:{self.url}:{self.settings['acct_id']}:{self.settings['username']}"

    def _post(self, service: str, method: str, body: dict[str, Any], session: str | None) -> Any:
        cookies = {"kdservice-sessionid": session} if session else None
        headers = {"kdservice-sessionid": session} if session else {}
        try:
            reply = httpx.post(
                self.url + SERVICE.format(service=service, method=method),
                json=body,
                cookies=cookies,
                headers=headers,
                timeout=30.0,
            )
        except httpx.HTTPError as exc:
            raise VendorUnavailable(f"{type(exc).__name__}: {exc}", code="UNREACHABLE") from exc
        if reply.status_code >= 500:
            raise VendorUnavailable(f"HTTP {reply.status_code}", code=f"HTTP{reply.status_code}")
        try:
            return reply.json()
        except ValueError as exc:
            raise VendorUnavailable(
                gettext("K3Cloud answered something that is not JSON."), code="UNREADABLE_REPLY"
            ) from exc

    def _login(self) -> tuple[str, int]:
        reply = self._post(
            "AuthService",
            "LoginByAppSecret",
            {
                "acctID": self.settings["acct_id"],
                "username": self.settings["username"],
                "appId": self.credentials["app_id"],
                "appSecret": self.credentials["app_secret"],
                "lcid": 2052,
            },
            None,
        )
        if not isinstance(reply, dict) or reply.get("LoginResultType") != 1:
            message = (reply or {}).get("Message") if isinstance(reply, dict) else None
            raise VendorRefused(gettext("K3Cloud refused the login: %(m)s") % {"m": message or "?"}, code="LOGIN")
        session = reply.get("KDSVCSessionId") or (reply.get("Context") or {}).get("SessionId")
        if not session:
            raise VendorUnavailable(gettext("K3Cloud's login answer named no session."), code="UNREADABLE_REPLY")
        return str(session), 15 * 60 + 300  # idle sessions end; renew every 15 minutes

    def _session(self) -> str:
        return token_get(self.session_name, self._login)

    def call(self, method: str, form_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """A DynamicFormService call; a lost session is renewed and the call made once more."""
        body = {"formid": form_id, "data": json.dumps(data, ensure_ascii=False)}
        try:
            return self._result(self._post("DynamicFormService", method, body, self._session()))
        except TokenExpired:
            token_forget(self.session_name)
            return self._result(self._post("DynamicFormService", method, body, self._session()))

    @staticmethod
    def _result(reply: Any) -> dict[str, Any]:
        status = ((reply or {}).get("Result") or {}).get("ResponseStatus") if isinstance(reply, dict) else None
        if not isinstance(status, dict):
            raise VendorUnavailable(gettext("K3Cloud answered in an unknown shape."), code="UNREADABLE_REPLY")
        if status.get("IsSuccess"):
            return reply["Result"]  # type: ignore[no-any-return]
        code = int(status.get("MsgCode") or 0)
        messages = "; ".join(str(e.get("Message", "")) for e in status.get("Errors") or []) or str(status)
        if code == SESSION_LOST:
            raise TokenExpired(messages, code="MsgCode1")
        if code == CALL_LIMIT:
            raise VendorThrottled(messages, code="MsgCode14")
        return_error: VendorError = VendorRefused(messages, code=f"MsgCode{code}")
        raise return_error

    def bill_exists(self, form_id: str, bill_no: str) -> str | None:
        """The ERP's id of the bill with this number, if it is there."""
        query = {"FormId": form_id, "FieldKeys": "FID,FBillNo", "FilterString": f"FBillNo='{bill_no}'", "Limit": 1}
        body = {"data": json.dumps(query, ensure_ascii=False)}
        try:
            rows = self._post("DynamicFormService", "ExecuteBillQuery", body, self._session())
        except TokenExpired:
            token_forget(self.session_name)
            rows = self._post("DynamicFormService", "ExecuteBillQuery", body, self._session())
        if (
            isinstance(rows, list)
            and rows
            and isinstance(rows[0], list)
            and rows[0]
            and not isinstance(rows[0][0], dict)
        ):
            return str(rows[0][0])
        return None

    def save_receipt(
        self, *, form_id: str, bill_no: str, date: str, lines: list[tuple[str, Any, str]], remark: str
    ) -> str:
        """A 收款单 (or 收款退款单) with one entry per (purpose, amount, note)."""
        entry_key = "FRECEIVEBILLENTRY" if form_id == "AR_RECEIVEBILL" else "FREFUNDBILLENTRY"
        amount_key = "FRECTOTALAMOUNTFOR" if form_id == "AR_RECEIVEBILL" else "FREFUNDAMOUNTFOR"
        model = {
            "FID": 0,
            "FBillNo": bill_no,
            "FDATE": date,
            "FCONTACTUNITTYPE": "BD_Customer",
            "FCONTACTUNIT": {"FNumber": self.settings["customer_number"]},
            "FPAYUNITTYPE": "BD_Customer",
            "FPAYUNIT": {"FNumber": self.settings["customer_number"]},
            "FCURRENCYID": {"FNumber": "PRE001"},
            "FSETTLEORGID": {"FNumber": self.settings.get("org_number") or "100"},
            "FSALEDEPTID": {"FNumber": self.settings.get("department_number") or ""},
            "FREMARK": remark[:255],
            entry_key: [
                {
                    "FSETTLETYPEID": {"FNumber": self.settings.get("settlement_type") or "JSFS01_SYS"},
                    "FPURPOSEID": {"FNumber": purpose},
                    amount_key: str(amount),
                    "FNOTE": note[:255],
                }
                for purpose, amount, note in lines
            ],
        }
        result = self.call("Save", form_id, {"NeedReturnFields": ["FBillNo"], "IsDeleteEntry": True, "Model": model})
        return str(result.get("Id") or result.get("Number") or bill_no)

    def test(self) -> str:
        token_forget(self.session_name)
        self._session()
        return gettext("Logged in to K3Cloud data centre %(a)s as %(u)s.") % {
            "a": self.settings["acct_id"],
            "u": self.settings["username"],
        }
