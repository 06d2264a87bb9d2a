from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "console"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="console/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("members/", views.members, name="members"),
    path("stores/", views.stores, name="stores"),
    path("stores/new/", views.store_edit, name="store-new"),
    path("stores/<int:store_id>/", views.store_edit, name="store-edit"),
    path("staff/", views.staff_list, name="staff"),
    path("staff/invite/", views.staff_invite, name="staff-invite"),
    path("staff/<int:staff_id>/", views.staff_edit, name="staff-edit"),
    path("roles/", views.roles, name="roles"),
    path("api-keys/", views.apikey_list, name="apikeys"),
    path("api-keys/<int:key_id>/revoke/", views.apikey_revoke, name="apikey-revoke"),
    path("audit/", views.audit_log, name="audit"),
    path("invite/<str:token>", views.invite_accept, name="invite-accept"),
]
