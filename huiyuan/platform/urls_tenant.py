"""URLs of a merchant's site (``<subdomain>.<base domain>``): console and API."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from huiyuan.members.api import views as member_views
from huiyuan.platform.api import views as platform_views

api_v1 = [
    path("me", platform_views.MeView.as_view(), name="me"),
    path("roles", platform_views.RoleListView.as_view(), name="roles"),
    path("staff", platform_views.StaffListView.as_view(), name="staff-list"),
    path("staff/<int:staff_id>", platform_views.StaffDetailView.as_view(), name="staff-detail"),
    path("api-keys", platform_views.ApiKeyListView.as_view(), name="apikey-list"),
    path("api-keys/<int:key_id>/revoke", platform_views.ApiKeyRevokeView.as_view(), name="apikey-revoke"),
    path("audit", platform_views.AuditListView.as_view(), name="audit-list"),
    path("stores", member_views.StoreListView.as_view(), name="store-list"),
    path("stores/<int:store_id>", member_views.StoreDetailView.as_view(), name="store-detail"),
    path("members", member_views.MemberListView.as_view(), name="member-list"),
    path("members/<int:member_id>", member_views.MemberDetailView.as_view(), name="member-detail"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
]

urlpatterns = [
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="api:schema"), name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("huiyuan.console.urls")),
]
