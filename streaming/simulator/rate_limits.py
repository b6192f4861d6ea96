"""Binance's REST request-weight limiter, per client IP (pure: the clock is passed in).

Binance counts every REST request's `weight` against the caller's IP in fixed windows of
`intervalNum` x `interval` (spot: `REQUEST_WEIGHT`, 1 `MINUTE`, limit 6000, listed in
`/api/v3/exchangeInfo` `rateLimits`). Each response carries the weight used so far in the
window as `X-MBX-USED-WEIGHT-1M` (and the older `X-MBX-USED-WEIGHT`); a request that takes
the IP past the limit gets HTTP 429, error -1003, and a `Retry-After` header with the
seconds until the window resets (binance-spot-api-docs rest-api.md "LIMITS / IP Limits",
errors.md "-1003 TOO_MANY_REQUESTS"). The simulator does not escalate to 418 IP bans.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BINANCE_SPOT_WEIGHT_PER_MINUTE = 6000
WINDOW_S = 60.0
TOO_MANY_REQUESTS = -1003


@dataclass(frozen=True)
class WeightCharge:
    """What one request cost: the IP's weight used in the current window, and whether it
    is over the limit (then `retry_after_s` says when the window resets)."""

    used: int
    limited: bool
    retry_after_s: int

    def headers(self) -> dict[str, str]:
        headers = {"X-MBX-USED-WEIGHT-1M": str(self.used), "X-MBX-USED-WEIGHT": str(self.used)}
        if self.limited:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class WeightLimiter:
    """Fixed one-minute windows aligned to the wall clock, as Binance's counters are."""

    def __init__(self, limit: int = BINANCE_SPOT_WEIGHT_PER_MINUTE) -> None:
        if limit < 1:
            raise ValueError(f"the request weight limit must be at least 1, got {limit}")
        self.limit = limit
        self.window_s = WINDOW_S
        self._window: dict[str, int] = {}  # ip -> index of its current window
        self._used: dict[str, int] = {}

    def charge(self, ip: str, weight: int, now_s: float) -> WeightCharge:
        window = int(now_s // self.window_s)
        if self._window.get(ip) != window:
            self._window[ip], self._used[ip] = window, 0
            self._forget_old(window)
        self._used[ip] += weight
        used = self._used[ip]
        retry_after = max(1, math.ceil((window + 1) * self.window_s - now_s))
        return WeightCharge(used, used > self.limit, retry_after)

    def used(self, ip: str, now_s: float) -> int:
        return self._used.get(ip, 0) if self._window.get(ip) == int(now_s // self.window_s) else 0

    def _forget_old(self, window: int) -> None:
        if len(self._window) > 1024:  # many clients: drop the ones whose window is over
            for ip in [ip for ip, w in self._window.items() if w != window]:
                del self._window[ip], self._used[ip]

    def rate_limit_entry(self) -> dict:
        """This limiter as an `/api/v3/exchangeInfo` `rateLimits` entry (enums.md)."""
        return {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": self.limit}

    def error_body(self) -> dict:
        """Binance's 429 body (errors.md, -1003 TOO_MANY_REQUESTS)."""
        return {"code": TOO_MANY_REQUESTS,
                "msg": f"Too much request weight used; current limit is {self.limit} request weight per 1 MINUTE. "
                       "Please use WebSocket Streams for live updates to avoid polling the API."}
