"""URLs of the public site (the platform's own domain): signup, API schema and docs."""

from django.urls import include, path

from huiyuan.console import public_views
from huiyuan.platform.api.docs import PublicDocsView, PublicSchemaView
from huiyuan.platform.language import language_set
from huiyuan.tenants.api.views import SignupView

urlpatterns = [
    path("api/v1/signup", SignupView.as_view(), name="signup"),
    path("api/v1/schema", PublicSchemaView.as_view(), name="schema"),
    path("api/docs", PublicDocsView.as_view(url_name="schema"), name="api-docs"),
    path("i18n/setlang/", language_set, name="set_language"),  # saves the choice on the user too
    path("i18n/", include("django.conf.urls.i18n")),
    path("", public_views.signup_page, name="signup-page"),
]
