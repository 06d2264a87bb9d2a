"""Request metadata (client IP, user agent) for the audit log, without threading ``request``
through every service call."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class RequestMeta:
    ip_address: str | None = None
    user_agent: str = ""


_NO_REQUEST = RequestMeta()
_current: ContextVar[RequestMeta] = ContextVar("huiyuan_request_meta", default=_NO_REQUEST)  # noqa: B039 - frozen


def current_request_meta() -> RequestMeta:
    return _current.get()


def _trusted_proxies() -> tuple[int, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]]:
    """``HUIYUAN_TRUSTED_PROXIES`` as (count of proxies, networks of proxies)."""
    raw = str(getattr(settings, "HUIYUAN_TRUSTED_PROXIES", "") or "").strip()
    if not raw:
        return 0, ()
    if raw.isdecimal():
        return int(raw), ()
    networks = tuple(ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())
    return 0, networks


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address. ``X-Forwarded-For`` is believed only as far as the proxies named in
    ``HUIYUAN_TRUSTED_PROXIES`` vouch for it; anyone else can write anything there."""
    remote = request.META.get("REMOTE_ADDR") or None
    count, networks = _trusted_proxies()
    if not count and not networks:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    chain = [*hops, remote] if remote else hops
    if count:
        # The connection came from the last of ``count`` proxies; the address the first of them
        # saw is ``count`` places from the right.
        candidate = chain[-(count + 1)] if len(chain) > count else chain[0]
        return str(_address(candidate) or remote)
    for hop in reversed(chain):
        address = _address(hop)
        if address is None:
            return remote  # a malformed hop: believe nothing beyond the connection
        if not any(address in network for network in networks):
            return str(address)
    return chain[0] if chain else remote


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current.set(
            RequestMeta(ip_address=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:300])
        )
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)
