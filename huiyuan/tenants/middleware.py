from __future__ import annotations

import threading
import time

from django.http import Http404
from django_tenants.middleware.main import TenantMainMiddleware

from .models import Tenant

# Host -> tenant, remembered per process for a few seconds: the lookup is a query on every
# request otherwise. A suspended merchant stops answering within this time.
ROUTE_CACHE_SECONDS = 10.0
ROUTE_CACHE_MAX = 10_000
_routes: dict[str, tuple[float, Tenant]] = {}
_routes_lock = threading.Lock()


class TenantMiddleware(TenantMainMiddleware):
    """Route by Host header; only active tenants (and the platform's public site) answer."""

    def get_tenant(self, domain_model, hostname):  # type: ignore[no-untyped-def]
        now = time.monotonic()
        cached = _routes.get(hostname)
        if cached is not None and cached[0] > now:
            return cached[1]
        tenant = super().get_tenant(domain_model, hostname)
        if tenant.status not in (Tenant.Status.ACTIVE, Tenant.Status.PLATFORM):
            raise domain_model.DoesNotExist
        with _routes_lock:
            if len(_routes) >= ROUTE_CACHE_MAX:
                _routes.clear()
            _routes[hostname] = (now + ROUTE_CACHE_SECONDS, tenant)
        return tenant

    def no_tenant_found(self, request, hostname):  # type: ignore[no-untyped-def]
        raise Http404(f'No merchant at "{hostname}"')


def forget_routes() -> None:
    """Drop remembered routes (a merchant suspended or a domain moved, in this process)."""
    with _routes_lock:
        _routes.clear()
