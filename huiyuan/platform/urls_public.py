"""URLs of the public site (the platform's own domain): signup, API schema and docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from huiyuan.console import public_views
from huiyuan.tenants.api.views import SignupView

urlpatterns = [
    path("api/v1/signup", SignupView.as_view(), name="signup"),
    path("api/v1/schema", SpectacularAPIView.as_view(authentication_classes=[]), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[]), name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", public_views.signup_page, name="signup-page"),
]
