"""Schemathesis against our own OpenAPI schema, in-process (WSGI), every operation of a merchant's
API with a bounded number of generated requests each, as HQ with throttling off. Fails on any 5xx,
any response that disagrees with the schema (status, content type, body) and any invalid input
the API accepts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django_tenants.utils import tenant_context
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import World

pytestmark = pytest.mark.slow
EXAMPLES = 12


def _load_schema() -> Any:
    """The merchant API's schema, generated in-process (no database needed at collection)."""
    from drf_spectacular.generators import SchemaGenerator

    document = SchemaGenerator(urlconf="huiyuan.platform.urls_tenant").get_schema(request=None, public=True)
    config = schemathesis.Config.from_dict(
        {"generation": {"mode": "all", "max-examples": EXAMPLES, "with-security-parameters": False}}
    )
    loaded = schemathesis.openapi.from_dict(dict(document), config=config)
    return loaded.include(path_regex="^/api/v1/").exclude(path_regex="/schema$")


schema = _load_schema()


@pytest.fixture(autouse=True)
def _no_throttling(monkeypatch: pytest.MonkeyPatch) -> None:
    from huiyuan.platform.api.base import TenantAPIView

    monkeypatch.setattr(TenantAPIView, "throttle_classes", [])


@pytest.fixture(scope="session")
def gamma(worlds: dict[str, World], django_db_blocker: Any) -> Iterator[World]:
    """A merchant of the fuzzer's own: its requests commit (the app answers them on connections
    of its own), so what they create must not land in the merchants other tests read."""
    from django.db import connection

    from .conftest import _build_world

    with django_db_blocker.unblock():
        world = _build_world("gamma", "Gamma")
        connection.set_schema_to_public()
        yield world


def _staff_headers(world: World, persona: str) -> tuple[dict[str, str], dict[str, Any]]:
    """Headers and cookies of a logged-in staff member (session and CSRF token, as a browser has)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    user = world.persona(persona)
    with tenant_context(world.tenant):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "huiyuan.platform.auth.StaffLoginBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
    request = HttpRequest()
    masked = get_token(request)
    secret = request.META["CSRF_COOKIE"]
    headers = {"Host": world.host, "X-CSRFToken": masked, "Accept-Language": "en"}
    return headers, {"sessionid": session.session_key, "csrftoken": secret}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_matches_its_schema(case: Any, gamma: World, server: str, django_db_blocker: Any) -> None:
    with django_db_blocker.unblock():
        headers, cookies = _staff_headers(gamma, "hq")
        case.call_and_validate(
            base_url=server,
            headers={**headers, "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
                negative_data_rejection,
            ],
        )
