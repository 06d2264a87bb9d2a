"""API keys, error format, idempotency keys, pagination, throttling, OpenAPI."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from rest_framework.test import APIClient

from huiyuan.members.models import Member
from huiyuan.platform.api.throttling import ActorRateThrottle
from huiyuan.platform.events.models import OutboxEvent
from huiyuan.platform.models import ApiKey, AuditEntry, IdempotencyRecord

from .conftest import World, api


def issue_key(world: World, scopes: list[str], store_id: int | None = None) -> str:
    response = api(world, "owner").post(
        "/api/v1/api-keys", {"name": "POS", "scopes": scopes, "store_id": store_id}, format="json"
    )
    assert response.status_code == 201, response.json()
    return str(response.json()["token"])


def key_client(world: World, token: str) -> APIClient:
    return APIClient(HTTP_HOST=world.host, HTTP_AUTHORIZATION=f"Api-Key {token}")


def test_api_key_is_scoped_hashed_and_revocable(alpha: World) -> None:
    token = issue_key(alpha, ["members.member.view"], store_id=alpha.store_b.pk)
    with tenant_context(alpha.tenant):
        stored = ApiKey.objects.get()
        assert token not in (stored.secret_hash, stored.prefix) and token.split("_", 2)[2] not in stored.secret_hash
    connection.set_schema_to_public()
    client = key_client(alpha, token)
    names = {m["name"] for m in client.get("/api/v1/members").json()["results"]}
    assert names == {"Alpha-李四"}  # the key is bound to store B
    assert client.post("/api/v1/members", {"phone": "13900000001"}, format="json").status_code == 403

    revoke = api(alpha, "owner").post(f"/api/v1/api-keys/{stored.pk}/revoke")
    assert revoke.status_code == 200 and revoke.json()["is_active"] is False
    denied = client.get("/api/v1/members")
    assert denied.status_code == 401
    assert denied.json()["error"]["code"] == "AUTHENTICATION_FAILED"


def test_api_key_of_one_tenant_is_rejected_by_another(alpha: World, beta: World) -> None:
    token = issue_key(alpha, ["members.member.view"])
    assert key_client(beta, token).get("/api/v1/members").status_code == 401


def test_api_keys_cannot_get_admin_scopes(alpha: World) -> None:
    response = api(alpha, "owner").post(
        "/api/v1/api-keys", {"name": "x", "scopes": ["platform.staff.manage"]}, format="json"
    )
    assert response.status_code == 400
    assert "scopes" in response.json()["error"]["fields"]


def test_garbage_api_key_is_rejected(alpha: World) -> None:
    for token in ("nonsense", "hy_deadbeef_wrong", ""):
        response = key_client(alpha, token).get("/api/v1/members")
        assert response.status_code == 401


def test_error_format_for_unknown_route_and_bad_json(alpha: World) -> None:
    client = api(alpha, "owner")
    bad = client.post("/api/v1/stores", "{not json", content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "PARSE_ERROR"
    missing = client.get("/api/v1/members/999999")
    error = missing.json()["error"]
    assert missing.status_code == 404 and error["code"] == "NOT_FOUND" and error["message"] and error["fields"] == {}


def test_pagination_envelope(alpha: World) -> None:
    body = api(alpha, "owner").get("/api/v1/members?page_size=1").json()
    assert body["count"] == 2 and len(body["results"]) == 1 and body["next"]


def test_idempotency_key_replays_first_response(alpha: World) -> None:
    client = api(alpha, "owner")
    payload = {"phone": "13700000001", "name": "钱七", "home_store_id": alpha.store_a.pk}
    first = client.post("/api/v1/members", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post("/api/v1/members", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    with tenant_context(alpha.tenant):
        assert Member.objects.filter(phone="+8613700000001").count() == 1
    connection.set_schema_to_public()
    conflict = client.post("/api/v1/members", {**payload, "name": "别人"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_failed_request_does_not_burn_its_idempotency_key(alpha: World) -> None:
    client = api(alpha, "owner")
    bad = client.post("/api/v1/members", {"phone": "12"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert bad.status_code == 400 and "phone" in bad.json()["error"]["fields"]
    good = client.post("/api/v1/members", {"phone": "13700000002"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert good.status_code == 201


@pytest.mark.slow
def test_fifty_concurrent_duplicates_create_one_member(committed: dict[str, World]) -> None:
    alpha = committed["alpha"]
    token = issue_key(alpha, ["members.member.create", "members.member.view"])
    payload = {"phone": "13600000050", "name": "并发", "home_store_id": alpha.store_a.pk}
    responses: list[Any] = []
    barrier = threading.Barrier(50)

    def post() -> None:
        try:
            client = key_client(alpha, token)
            barrier.wait()
            responses.append(client.post("/api/v1/members", payload, format="json", HTTP_IDEMPOTENCY_KEY="same"))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(50)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r.status_code for r in responses] == [201] * 50
        assert len({r.content for r in responses}) == 1
        assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 49
        with tenant_context(alpha.tenant):
            assert Member.objects.filter(phone="+8613600000050").count() == 1
            assert AuditEntry.objects.filter(action="members.member.create").count() == 1
    finally:
        with tenant_context(alpha.tenant):
            ids = list(Member.objects.filter(phone="+8613600000050").values_list("pk", flat=True))
            Member.objects.filter(pk__in=ids).delete()
            IdempotencyRecord.objects.all().delete()
            AuditEntry.objects.filter(action__in=["members.member.create", "platform.apikey.create"]).delete()
            ApiKey.objects.all().delete()
        OutboxEvent.objects.filter(tenant_schema=alpha.tenant.schema_name).delete()
        connection.set_schema_to_public()


def test_throttling_answers_429_with_the_error_format(alpha: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from django.core.cache import cache

    monkeypatch.setattr(ActorRateThrottle, "rate", "3/day", raising=False)  # a window no test run crosses
    client = api(alpha, "service")
    with tenant_context(alpha.tenant):
        cache.delete(f"throttle_actor_user:{alpha.service.pk}:{int(time.time() // 86400)}")
    codes = [client.get("/api/v1/stores").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = client.get("/api/v1/stores")
    assert refused.json()["error"]["code"] == "THROTTLED" and int(refused["Retry-After"]) > 0


def test_openapi_schema_and_docs_are_served_without_a_cdn(alpha: World) -> None:
    schema = api(alpha, "owner").get("/api/v1/schema?format=json")
    assert schema.status_code == 200
    assert "/api/v1/members" in schema.json()["paths"]
    docs = api(alpha, "owner").get("/api/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html and "/static/" in html


def test_openapi_schema_documents_every_endpoint_without_warnings(tmp_path: Any) -> None:
    from django.core.management import call_command

    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(target))
    text = target.read_text()
    for path in (
        "/api/v1/checkout:",
        "/api/v1/loyalty/settings:",
        "/api/v1/points-adjustments/{adjustment_id}/decision:",
    ):
        assert path in text
    assert "ApiKey" in text  # the POS / ERP authentication scheme


def test_idempotency_key_is_honoured_on_configuration_writes_too(alpha: World) -> None:
    from huiyuan.members.models import Tag

    client = api(alpha, "hq")
    body = {"name": "回头客", "kind": "manual"}
    first = client.post("/api/v1/tags", body, format="json", HTTP_IDEMPOTENCY_KEY="tag-1")
    again = client.post("/api/v1/tags", body, format="json", HTTP_IDEMPOTENCY_KEY="tag-1")
    assert first.status_code == again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    with tenant_context(alpha.tenant):
        assert Tag.objects.filter(name="回头客").count() == 1
