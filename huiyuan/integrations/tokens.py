"""Vendor access tokens shared by every worker: cached in Redis until a few minutes before they
expire, fetched by one worker at a time (the others wait briefly for its result instead of all
asking the vendor at once), and dropped when the vendor says one has expired."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.core.cache import cache

EARLY_REFRESH_SECONDS = 300
LOCK_SECONDS = 10


def token_get(name: str, fetch: Callable[[], tuple[str, int]]) -> str:
    """The cached token for ``name``, or a new one from ``fetch()`` → (token, expires_in seconds)."""
    key = f"vendortoken:{name}"
    token = cache.get(key)
    if token:
        return str(token)
    lock = f"{key}:lock"
    if cache.add(lock, 1, timeout=LOCK_SECONDS):
        try:
            token, expires_in = fetch()
            cache.set(key, token, timeout=max(30, expires_in - EARLY_REFRESH_SECONDS))
            return token
        finally:
            cache.delete(lock)
    # Another worker is fetching: wait for its token, then fetch ourselves if it never comes.
    deadline = time.monotonic() + LOCK_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.05)
        token = cache.get(key)
        if token:
            return str(token)
    token, expires_in = fetch()
    cache.set(key, token, timeout=max(30, expires_in - EARLY_REFRESH_SECONDS))
    return token


def token_forget(name: str) -> None:
    cache.delete(f"vendortoken:{name}")
