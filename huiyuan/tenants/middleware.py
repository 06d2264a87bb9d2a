from __future__ import annotations

from django.http import Http404
from django_tenants.middleware.main import TenantMainMiddleware

from .models import Tenant


class TenantMiddleware(TenantMainMiddleware):
    """Route by Host header; only active tenants (and the platform's public site) answer."""

    def get_tenant(self, domain_model, hostname):  # type: ignore[no-untyped-def]
        tenant = super().get_tenant(domain_model, hostname)
        if tenant.status not in (Tenant.Status.ACTIVE, Tenant.Status.PLATFORM):
            raise domain_model.DoesNotExist
        return tenant

    def no_tenant_found(self, request, hostname):  # type: ignore[no-untyped-def]
        raise Http404(f'No merchant at "{hostname}"')
