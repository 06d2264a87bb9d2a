"""Vendor callbacks (no login: the vendor's signature is the credential)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from ..callbacks import dingtalk_event, wecom_event, wecom_verify
from ..wecom_crypto import CallbackRejected


@csrf_exempt
def wecom_callback(request: HttpRequest, connection_id: int) -> HttpResponse:
    params = {k: request.GET.get(k, "") for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    try:
        if request.method == "GET":
            return HttpResponse(wecom_verify(connection_id, params), content_type="text/plain")
        if request.method == "POST":
            wecom_event(connection_id, params, request.body)
            return HttpResponse("", content_type="text/plain")  # acknowledged; no passive reply
    except CallbackRejected as exc:
        return HttpResponse(f"rejected: {exc}", status=403, content_type="text/plain")
    return HttpResponse(status=405)


@csrf_exempt
def dingtalk_callback(request: HttpRequest, connection_id: int) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405)
    params = {k: request.GET.get(k, "") for k in ("msg_signature", "signature", "timestamp", "timeStamp", "nonce")}
    try:
        return JsonResponse(dingtalk_event(connection_id, params, request.body))
    except CallbackRejected as exc:
        return HttpResponse(f"rejected: {exc}", status=403, content_type="text/plain")
