"""Providers and what they can do. A provider is one class per vendor, keyed by ``key``, declaring
the credentials and settings it needs and the capabilities it offers; callers ask for a capability
("send SMS") and get the merchant's enabled connection that has it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


class VendorError(Exception):
    """A vendor said no, or could not be reached. ``retry``: worth another try later (timeouts,
    throttling, the vendor's own failures); not for credentials or content the vendor refuses."""

    retry: bool = False

    def __init__(self, message: str, *, code: str = "", retry: bool | None = None, wait: float | None = None):
        super().__init__(message)
        self.code = code
        if retry is not None:
            self.retry = retry
        self.wait = wait  # seconds the vendor asks us to wait, when it says


class VendorUnavailable(VendorError):
    """Timeout, connection refused, 5xx, a reply we cannot read: try again later."""

    retry = True


class VendorThrottled(VendorError):
    retry = True


class VendorRefused(VendorError):
    """Configuration or content the vendor refuses (wrong key, unapproved template): fix, don't retry."""


class TokenExpired(VendorError):
    """The access token was refused as expired or invalid: refetch once and retry once."""

    retry = True


def explained(words: dict[Any, Any], code: Any, message: str) -> str:
    """A vendor's error in our words when we know the code, with its own message after (or alone)."""
    known = words.get(code)
    return f"{known} ({message})" if known else message or str(code)


@dataclass(frozen=True)
class Field:
    name: str
    label: Any
    secret: bool = False
    required: bool = True
    default: str = ""
    help: Any = ""


# A connection's own send rate (the account's contracted limit), shared by every worker.
RATE_FIELD = Field(
    "rate_per_second",
    gettext_lazy("Messages per second"),
    required=False,
    default="100",
    help=gettext_lazy("What the account may send; every worker together stays under it."),
)


class SmsSender(Protocol):
    def send_sms(self, *, phone: str, template_code: str, params: Any, reference: str) -> str: ...


class Provider:
    key: ClassVar[str]
    label: ClassVar[Any]
    capabilities: ClassVar[frozenset[str]]
    credential_fields: ClassVar[tuple[Field, ...]] = ()
    setting_fields: ClassVar[tuple[Field, ...]] = ()
    # Calls per second the vendor allows one account; shared by every worker (``limits.py``).
    rate_per_second: ClassVar[float] = 50.0

    def __init__(self, connection: Any, credentials: dict[str, Any]):
        self.connection = connection
        self.credentials = credentials
        self.settings = connection.settings or {}

    @classmethod
    def rate_for(cls, settings: dict[str, Any]) -> float:
        """Calls per second for a connection: its own setting (the account's contracted limit), or the default."""
        try:
            return float(settings.get("rate_per_second") or cls.rate_per_second)
        except (TypeError, ValueError):
            return cls.rate_per_second

    def test(self) -> str:
        """Call the vendor with the credentials and say what it answered; raise ``VendorError``."""
        raise NotImplementedError


PROVIDERS: dict[str, type[Provider]] = {}

SMS = "sms"
EMAIL = "email"
STAFF_NOTIFIER = "staff_notifier"
STAFF_TASKS = "staff_tasks"
FINANCE_SYNC = "finance_sync"
MEMBER_SOURCE = "member_source"
CAPABILITY_LABELS = {
    SMS: "SmsSender",
    EMAIL: "EmailSender",
    STAFF_NOTIFIER: "StaffNotifier",
    STAFF_TASKS: "StaffTaskCreator",
    FINANCE_SYNC: "FinanceSync",
    MEMBER_SOURCE: "MemberSource",
}


def register_provider(cls: type[Provider]) -> type[Provider]:
    PROVIDERS[cls.key] = cls
    return cls


def provider_class(key: str) -> type[Provider]:
    from huiyuan.platform.errors import ValidationFailed

    if key not in PROVIDERS:
        raise ValidationFailed(fields={"provider": [_("Unknown provider.")]})
    return PROVIDERS[key]
