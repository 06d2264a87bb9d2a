"""Rate limits as fixed one-window counters in the cache: one atomic increment per request, however
high the rate (DRF's sliding log stores and rewrites every request's timestamp, which grows with
the rate). Cache keys are tenant-prefixed by the cache's key function. With Redis down the cache
fails open (``platform/cache.py``) and nothing is refused."""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from ..access import principal_id
from ..context import client_ip


class _WindowThrottle(SimpleRateThrottle):
    duration: int  # set by SimpleRateThrottle from the rate ("30/minute": 30 requests, 60 s)
    num_requests: int

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        window = int(time.time() // self.duration)
        key = f"{self.key}:{window}"
        if cache.add(key, 1, timeout=self.duration + 1):
            count = 1
        else:
            try:
                count = int(cache.incr(key))
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=self.duration + 1)
                count = 1
        self._retry_after = self.duration - (time.time() % self.duration)
        return count <= self.num_requests

    def wait(self) -> float | None:
        return getattr(self, "_retry_after", None)


class ActorRateThrottle(_WindowThrottle):
    """Per staff member or API key."""

    scope = "actor"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return f"throttle_actor_{principal_id(request.user)}"


class AnonymousRateThrottle(_WindowThrottle):
    scope = "anon"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return f"throttle_anon_{client_ip(request) or 'unknown'}"
