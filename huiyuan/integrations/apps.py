from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "huiyuan.integrations"
    label = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        # Providers register themselves on import, one module each; the SMS channel joins automation's.
        from huiyuan.members.erasure import register_member_eraser

        from . import actions, channels, finance, providers, staff, webhooks  # noqa: F401

        register_member_eraser(_erase_identities)


def _erase_identities(member_id: int) -> None:
    """The mini program link goes: the person signing in again becomes a new member."""
    from .models import MemberIdentity

    MemberIdentity.objects.filter(member_id=member_id).delete()
