"""The simulated exchange: the seeded market model (`model.Market`) served through an
`ExchangeEndpoint` (one port: WebSocket streams and REST, optionally TLS).

REST: Binance's public market-data routes (`streaming.simulator.rest`: `GET /api/v3/ping`,
`/time`, `/exchangeInfo`, `/depth`, `/ticker/bookTicker`), each charged to the caller's IP
against a request-weight limit per minute (`weight_limit_per_minute`, 6000 as on Binance
spot; past it HTTP 429, error -1003 and `Retry-After`), plus the endpoint's `GET /_status`
and `POST /_faults?kind=gap|crossed|malformed|drop|stall&symbol=&count=&seconds=`, which
weigh nothing. Every HTTP answer carries `X-MBX-USED-WEIGHT-1M` and `X-MBX-USED-WEIGHT`.

One ticker advances the symbols round-robin at `rate_hz` events per symbol per second
(waking every `FEED_TICK_S` and stepping the symbols then due: at 30 symbols x 10 Hz that is
6 steps a wake-up, and the process uses ~0.09 of a core instead of ~0.16 when it woke for
each step) and broadcasts each event to the streams that want it: `@100ms` streams get every event,
the 1000 ms streams (`@depth`, `@depth<N>`, and the same names spelled with `@1000ms`)
get one merged diff / one top-N per second. Each event is `dt` = 0.1 s of model time
whatever `rate_hz` (so the same seed gives the same market at any rate; a rate above 10 Hz
plays model time faster than the wall clock). REST snapshots are served from the same
model on the same event loop, so a snapshot's `lastUpdateId` always lines up with the
diffs already sent.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

from streaming.simulator.endpoint import ExchangeEndpoint
from streaming.simulator.faults import Fault, crossed_partial, malformed_diff, malformed_partial
from streaming.simulator.model import BookEvent, Market, id_base_for_start
from streaming.simulator.protocol import (
    PARTIAL_DEPTHS,
    SLOW_SUFFIX,
    ProtocolError,
    agg_trade_payload,
    diff_payload,
    dumps,
    merge_events,
    parse_stream,
    partial_payload,
    trade_payload,
)
from streaming.simulator.rate_limits import BINANCE_SPOT_WEIGHT_PER_MINUTE
from streaming.simulator.rest import RestApi, RestResult
from streaming.simulator.tls import resolve as resolve_tls

MAX_CATCH_UP_S = 0.5  # after a stall, skip rather than burst more than this much backlog
FEED_TICK_S = 0.02  # the feed wakes at most 50 times a second and steps every symbol then due


@dataclass(frozen=True)
class _StreamNames:
    """The stream names of one symbol, built once (the ticker uses them per event)."""

    fast_diff: str
    slow_diff: str
    fast_partial: dict[int, str]
    slow_partial: dict[int, str]
    trade: str
    agg_trade: str

    @classmethod
    def of(cls, symbol: str) -> "_StreamNames":
        s = symbol.lower()
        return cls(f"{s}@depth@100ms", f"{s}@depth", {n: f"{s}@depth{n}@100ms" for n in PARTIAL_DEPTHS},
                   {n: f"{s}@depth{n}" for n in PARTIAL_DEPTHS}, f"{s}@trade", f"{s}@aggTrade")


class SimulatorServer(ExchangeEndpoint):
    """A Binance-protocol exchange for `symbols`, deterministic under `seed`."""

    name = "simulator"

    def __init__(self, symbols: list[str], *, host: str = "127.0.0.1", port: int = 0, rate_hz: float = 10.0,
                 seed: int = 7, levels: int = 100, ping_interval_s: float | None = 20.0,
                 ping_timeout_s: float | None = 60.0,
                 weight_limit_per_minute: int = BINANCE_SPOT_WEIGHT_PER_MINUTE,
                 ssl_context: ssl.SSLContext | None = None, certfile: str | Path | None = None,
                 keyfile: str | Path | None = None, id_base: int | None = None) -> None:
        if id_base is None:  # ids continue across restarts; the market is the seed's either way
            id_base = id_base_for_start(time.time())
        self.market = Market(symbols, seed, levels, id_base=id_base)
        super().__init__(self.market.symbols, host=host, port=port, ping_interval_s=ping_interval_s,
                         ping_timeout_s=ping_timeout_s, weight_limit_per_minute=weight_limit_per_minute,
                         ssl_context=resolve_tls(ssl_context, certfile, keyfile))
        self.rate_hz = rate_hz
        self.rest = RestApi(self.market, self.limiter, time.time)
        self._names = {s: _StreamNames.of(s) for s in self.symbols}
        # each 1000 ms stream is also served under its explicit `@1000ms` name
        self._aliases = {name: name + SLOW_SUFFIX for names in self._names.values()
                         for name in (names.slow_diff, *names.slow_partial.values())}
        self._pending_slow: dict[str, BookEvent] = {}

    # --- the endpoint's hooks -------------------------------------------------------------
    def _check_stream(self, name: str) -> str:
        return parse_stream(name, self._known).name

    def _rest(self, method: str, path: str, query: dict[str, str], ip: str) -> RestResult:
        return self.rest.handle(method, path, query, ip)

    def _inject_feed_fault(self, fault: Fault, symbol: str | None, count: int) -> None:
        if symbol is None or symbol.upper() not in self._known:
            raise ProtocolError(f"fault {fault.value} needs a known symbol, got {symbol!r}")
        self.faults.add(fault, symbol.upper(), count)

    def status(self) -> dict:
        return {**super().status(), "rate_hz": self.rate_hz,
                "update_ids": {s: self.market[s].last_update_id for s in self.symbols}}

    # --- the ticker ---------------------------------------------------------------------------
    async def _run_feed(self) -> None:
        loop = asyncio.get_running_loop()
        steps_per_s = self.rate_hz * len(self.symbols)
        max_burst = max(1, int(steps_per_s * MAX_CATCH_UP_S))
        start = loop.time()
        done = 0
        next_slow = start + 1.0
        while True:
            now = loop.time()
            due = int((now - start) * steps_per_s) + 1 - done
            if due > max_burst:  # the loop was blocked: skip, don't burst
                done += due - max_burst
                due = max_burst
            if due > 0:
                now_ms = time.time_ns() // 1_000_000
                for i in range(done, done + due):
                    self._step(self.symbols[i % len(self.symbols)], now_ms)
                done += due
                self._cut_off_slow_clients()
            if now >= next_slow:
                self._flush_slow_streams(time.time_ns() // 1_000_000)
                next_slow = max(next_slow + 1.0, now + 0.5)
            # the next step's time, but not sooner than FEED_TICK_S from now: each wake-up of the
            # loop costs more than a step here, so several symbols share one
            await asyncio.sleep(max(start + done / steps_per_s, now + FEED_TICK_S) - loop.time())

    def _step(self, symbol: str, now_ms: int) -> None:
        model = self.market[symbol]
        names = self._names[symbol]
        fault = self.faults.take_event_fault(symbol)
        if fault is Fault.gap:
            lost = model.step()  # generated, never sent on the depth streams
            self._pending_slow.pop(symbol, None)  # the slow stream must show the gap too
            self._send_trades(names, lost, now_ms)  # the trade streams are not the ones that lost it
            return
        if fault is Fault.crossed:
            self._flush_slow_diff(symbol, now_ms)
            event = model.crossed_event()
            data = dumps(diff_payload(event, now_ms))
            for name in (names.fast_diff, names.slow_diff):
                self._send(name, data)
            for n in PARTIAL_DEPTHS:
                for name in (names.fast_partial[n], names.slow_partial[n]):
                    if self._wanted(name):
                        self._send(name, crossed_partial(model, n))
            return
        event = model.step()
        self._send_trades(names, event, now_ms)
        if names.fast_diff in self._subs:
            self._send(names.fast_diff, dumps(diff_payload(event, now_ms)))
        if self._wanted(names.slow_diff):
            pending = self._pending_slow.get(symbol)
            self._pending_slow[symbol] = merge_events(pending, event) if pending else event
        for n, name in names.fast_partial.items():
            if self._wanted(name):
                bids, asks = model.top(n)
                self._send(name, dumps(partial_payload(model.last_update_id, bids, asks)))
        if (count := self.faults.take_malformed(symbol)) > 0:
            self._send_malformed(symbol, count, now_ms)

    def _send_trades(self, names: _StreamNames, event: BookEvent, now_ms: int) -> None:
        """Each print of the step, in trade-id order, before the diff that shows its fill."""
        if not event.trades:
            return
        if names.trade in self._subs:
            for trade in event.trades:
                self._send(names.trade, dumps(trade_payload(trade, now_ms)))
        if names.agg_trade in self._subs:
            for trade in event.trades:
                self._send(names.agg_trade, dumps(agg_trade_payload(trade, now_ms)))

    def _send_malformed(self, symbol: str, count: int, now_ms: int) -> None:
        model, names = self.market[symbol], self._names[symbol]
        for _ in range(count):
            variant = self.faults.next_variant()
            for name in (names.fast_diff, names.slow_diff):
                if self._wanted(name):
                    self._send(name, malformed_diff(model, now_ms, variant))
            for n in PARTIAL_DEPTHS:
                for name in (names.fast_partial[n], names.slow_partial[n]):
                    if self._wanted(name):
                        self._send(name, malformed_partial(model, n, variant))

    def _flush_slow_streams(self, now_ms: int) -> None:
        for symbol in self.symbols:
            names = self._names[symbol]
            self._flush_slow_diff(symbol, now_ms)
            for n, name in names.slow_partial.items():
                if self._wanted(name):
                    model = self.market[symbol]
                    bids, asks = model.top(n)
                    self._send(name, dumps(partial_payload(model.last_update_id, bids, asks)))

    def _flush_slow_diff(self, symbol: str, now_ms: int) -> None:
        pending = self._pending_slow.pop(symbol, None)
        if pending is not None:
            self._send(self._names[symbol].slow_diff, dumps(diff_payload(pending, now_ms)))

    def _wanted(self, stream: str) -> bool:
        """Has `stream` (or its `@1000ms` spelling) any subscriber?"""
        alias = self._aliases.get(stream)
        return stream in self._subs or (alias is not None and alias in self._subs)

    def _send(self, stream: str, data_json: str) -> None:
        sent = self._send_as(stream, data_json)
        alias = self._aliases.get(stream)
        if alias is not None:
            sent = self._send_as(alias, data_json) or sent
        if sent:
            self.events_sent += 1
