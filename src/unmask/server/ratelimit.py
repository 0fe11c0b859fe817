"""Per-key request rate limits (token buckets), kept in memory by the serving process."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict


class RateLimiter:
    """At most ``per_minute`` events per key on average, in bursts of up to ``burst``; ``keys`` most recent kept.

    ``take(key)`` returns 0 when the event may go ahead, else the seconds until it may. Keys beyond ``keys`` are
    forgotten oldest first, so a flood of new keys costs bounded memory (and a forgotten key starts full again).
    """

    def __init__(self, per_minute: int, burst: int | None = None, keys: int = 10_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst or max(1, per_minute // 6))
        self.keys = keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> int:
        """Spend one token of ``key``'s bucket: 0 if there was one, else whole seconds to wait (at least 1)."""
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                wait = 0
            else:
                self._buckets[key] = (tokens, now)
                wait = max(1, math.ceil((1 - tokens) / self.rate))
            while len(self._buckets) > self.keys:
                self._buckets.popitem(last=False)
        return wait
