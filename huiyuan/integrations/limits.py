"""Vendor rate limits shared by every worker: a counter per connection and second in Redis. A
worker over the limit waits for the next second instead of letting the vendor refuse the call.
With Redis down the limit fails open; the vendor's own throttling replies are then retried."""

from __future__ import annotations

import math
import time

from django.core.cache import cache


def rate_wait(name: str, per_second: float) -> float:
    """Take one slot of ``per_second`` for ``name``, waiting for a free second when all are taken.
    Returns the seconds waited."""
    waited = 0.0
    limit = max(1, math.floor(per_second))
    while True:
        now = time.time()
        second = int(now)
        key = f"ratelimit:{name}:{second}"
        cache.add(key, 0, timeout=5)
        taken = cache.incr(key, 1)
        if taken <= limit:
            return waited
        pause = (second + 1) - now + 0.001
        time.sleep(pause)
        waited += pause
