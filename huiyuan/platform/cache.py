"""The cache fails open: with Redis unreachable, reads miss and writes are dropped, so rate limits
and cached answers stop working for a while but no request fails. PostgreSQL keeps everything that
must hold (idempotency, locks, the outbox). After a failure Redis is left alone for a few seconds,
so a dead Redis costs one short connect timeout per process per interval, not one per request."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis.exceptions
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

logger = logging.getLogger("huiyuan.cache")
T = TypeVar("T")
RETRY_AFTER_SECONDS = 5.0


class _State:
    down_until = 0.0
    last_error = ""


_state = _State()


def cache_unavailable() -> str:
    """Why the cache is being skipped right now, or "" when it is in use."""
    return _state.last_error if time.monotonic() < _state.down_until else ""


def _guard(call: Callable[[], T], fallback: T) -> T:
    if time.monotonic() < _state.down_until:
        return fallback
    try:
        return call()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        if not cache_unavailable():
            logger.warning("cache: Redis unavailable, failing open for %ss: %s", RETRY_AFTER_SECONDS, exc)
        _state.down_until = time.monotonic() + RETRY_AFTER_SECONDS
        _state.last_error = f"{type(exc).__name__}: {exc}"[:300]
        return fallback


class FailOpenRedisCacheClient(RedisCacheClient):
    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # One client object per pool: Django builds a new one for every cache call, and building
        # one registers ~170 response callbacks (measurable on every request). Clients are
        # thread-safe; the pool hands out connections.
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]  # Django's, untyped
        clients: dict[int, Any] = self.__dict__.setdefault("_clients", {})
        client = clients.get(id(pool))
        if client is None:
            client = clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client

    def add(self, key: Any, value: Any, timeout: Any) -> bool:
        return _guard(lambda: super(FailOpenRedisCacheClient, self).add(key, value, timeout), False)

    def get(self, key: Any, default: Any) -> Any:
        return _guard(lambda: super(FailOpenRedisCacheClient, self).get(key, default), default)

    def set(self, key: Any, value: Any, timeout: Any) -> None:
        _guard(lambda: super(FailOpenRedisCacheClient, self).set(key, value, timeout), None)

    def touch(self, key: Any, timeout: Any) -> bool:
        return _guard(lambda: super(FailOpenRedisCacheClient, self).touch(key, timeout), False)

    def delete(self, key: Any) -> bool:
        return _guard(lambda: super(FailOpenRedisCacheClient, self).delete(key), False)

    def get_many(self, keys: Any) -> dict[Any, Any]:
        return _guard(lambda: super(FailOpenRedisCacheClient, self).get_many(keys), {})

    def has_key(self, key: Any) -> bool:
        return _guard(lambda: super(FailOpenRedisCacheClient, self).has_key(key), False)

    def incr(self, key: Any, delta: int) -> Any:
        return _guard(lambda: super(FailOpenRedisCacheClient, self).incr(key, delta), delta)

    def set_many(self, data: Any, timeout: Any) -> None:
        _guard(lambda: super(FailOpenRedisCacheClient, self).set_many(data, timeout), None)

    def delete_many(self, keys: Any) -> None:
        _guard(lambda: super(FailOpenRedisCacheClient, self).delete_many(keys), None)

    def clear(self) -> bool:
        return _guard(lambda: super(FailOpenRedisCacheClient, self).clear(), False)


class FailOpenRedisCache(RedisCache):
    def __init__(self, server: Any, params: Any) -> None:
        super().__init__(server, params)
        self._class = FailOpenRedisCacheClient  # Django sets the client class per instance
