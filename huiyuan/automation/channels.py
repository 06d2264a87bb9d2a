"""Channels a message reaches a member through. Email (Django's backend: SMTP in production) and
the member's in-app inbox work here; integrations register SMS, WeCom and others the same way."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.html import escape, format_html, linebreaks
from django.utils.translation import gettext_lazy as _

from .registry import ActionFailed, Channel, register_channel
from .unsubscribe import unsubscribe_url


@register_channel
class InboxChannel(Channel):
    """The member's message centre, read by the merchant's app or mini program through the API."""

    key = "inbox"
    label = _("Member inbox (app)")
    external = False

    def address(self, member: Any) -> str | None:
        return str(member.pk)

    def send(
        self, *, member: Any, address: str, subject: str, body: str, message_id: int, options: dict[str, Any]
    ) -> str:
        return f"inbox:{message_id}"  # the stored message is the delivery


@register_channel
class EmailChannel(Channel):
    key = "email"
    label = _("E-mail")
    consent_field = "consent_email"

    def address(self, member: Any) -> str | None:
        return member.email or None

    def send(
        self, *, member: Any, address: str, subject: str, body: str, message_id: int, options: dict[str, Any]
    ) -> str:
        if not settings.HUIYUAN_EMAIL_CONFIGURED:
            raise ActionFailed(str(_("E-mail is not set up: the administrator sets HUIYUAN_EMAIL_URL.")), retry=False)
        message_key = f"<huiyuan.{message_id}@{settings.HUIYUAN_BASE_DOMAIN}>"
        leave = unsubscribe_url(member, "email")
        footer = f"{_('Do not want these e-mails? Unsubscribe here:')}\n{leave}"
        mail = EmailMultiAlternatives(
            subject=subject or body[:40],
            body=f"{body}\n\n--\n{footer}",
            to=[address],
            headers={"Message-ID": message_key, "List-Unsubscribe": f"<{leave}>"},
        )
        html_footer = format_html(
            '<p style="color:#888;font-size:12px"><a href="{}">{}</a></p>', leave, _("Unsubscribe")
        )
        mail.attach_alternative(linebreaks(escape(body)) + html_footer, "text/html")
        try:
            mail.send()
        except OSError as exc:  # SMTP refused, timed out or unreachable: worth another try later
            raise ActionFailed(f"SMTP: {exc}") from exc
        return message_key
