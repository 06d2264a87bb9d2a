from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "huiyuan.tenants"
    label = "tenants"
    verbose_name = "Tenants"
