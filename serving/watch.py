"""`quantcore watch`: a live terminal table of the signals per symbol, with age and rate;
`quantcore watch --books SYMBOL`: a live ladder of one symbol's book (SubscribeBooks);
`quantcore watch --trade-flow SYMBOL`: one symbol's trade-flow windows (SubscribeTradeFlow).

`WatchState` / `LadderState` / `FlowState` (pure) fold the stream's messages in (the last two
share `OneSymbolState`: the newest value of one symbol and its rate); `render` /
`render_ladder` / `render_flow` turn them into a rich Table; `watch` / `watch_books` /
`watch_trade_flow` wire a `MarketDataClient` to a rich `Live` display (`_display`, shared).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table

from quantcore.microstructure.trade_windows import window_label
from quantcore.wire import MarketUpdate, SignalUpdate, TradeFlow, market_data_pb2
from quantcore.timeutil import now_us
from serving.client import MarketDataClient

COLUMNS = ("symbol", "obi_1", "obi_5", "obi_10", "obi_20", "mid", "spread bps", "age", "msgs/s")
RATE_WINDOW_S = 5.0
PLAIN_INTERVAL_S = 5.0  # not a terminal: print the table this often


@dataclass
class SymbolView:
    update: SignalUpdate
    since: float  # monotonic time the symbol was first seen: the rate's window until it is full
    arrivals: deque[float] = field(default_factory=deque)  # monotonic receive times of updates


class WatchState:
    def __init__(self, symbols: Iterable[str] = (), rate_window_s: float = RATE_WINDOW_S) -> None:
        self.order = list(symbols)  # requested symbols first, in the order asked
        self.views: dict[str, SymbolView] = {}
        self.rate_window_s = rate_window_s
        self.messages = 0
        self.snapshots = 0

    def apply(self, message: MarketUpdate, now: float) -> None:
        """Fold one stream message in; `now` is the monotonic receive time."""
        self.messages += 1
        if message.kind == MarketUpdate.SNAPSHOT:
            self.snapshots += 1
        for update in message.updates:
            view = self.views.get(update.symbol)
            if view is None:
                view = self.views[update.symbol] = SymbolView(update, now)
                if update.symbol not in self.order:
                    self.order.append(update.symbol)
            view.update = update
            if message.kind == MarketUpdate.UPDATE:
                view.arrivals.append(now)

    def rate(self, symbol: str, now: float) -> float:
        view = self.views.get(symbol)
        if view is None:
            return 0.0
        while view.arrivals and view.arrivals[0] < now - self.rate_window_s:
            view.arrivals.popleft()
        window = min(self.rate_window_s, now - view.since)
        return len(view.arrivals) / window if window > 0 else 0.0

    def rows(self, now: float, wall_us: int) -> list[tuple[str, ...]]:
        """One row of display strings per symbol (see COLUMNS); '-' where there is no value."""
        rows = []
        for symbol in self.order:
            view = self.views.get(symbol)
            if view is None:
                rows.append((symbol, *("-",) * (len(COLUMNS) - 1)))
                continue
            s = view.update.signals
            published = view.update.times.publish_us
            age = format_age((wall_us - published) / 1e6) if published else "-"
            rows.append((symbol, *(format_obi(optional(s, f"obi_{k}")) for k in (1, 5, 10, 20)),
                         format_price(optional(s, "mid")), format_number(optional(s, "spread_bps"), 2), age,
                         f"{self.rate(symbol, now):.1f}"))
        return rows


def optional(message, name: str):
    """An optional field's value, None when it is unset (protobuf reads an unset one as 0)."""
    return getattr(message, name) if message.HasField(name) else None


def format_obi(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:+.3f}"


def format_number(value: float | None, decimals: int) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{decimals}f}"


def format_price(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.6g}"


def format_age(seconds: float) -> str:
    if seconds < 1:
        return f"{max(seconds, 0) * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.0f}m"


def render(state: WatchState, client: MarketDataClient | None = None) -> Table:
    now, wall = time.monotonic(), now_us()
    table = Table(title="QuantCore market data", title_justify="left")
    for name in COLUMNS:
        table.add_column(name, justify="left" if name == "symbol" else "right")
    for row in state.rows(now, wall):
        cells = [_colour_obi(cell) if 1 <= i <= 4 else cell for i, cell in enumerate(row)]
        table.add_row(*cells)
    total = sum(state.rate(symbol, now) for symbol in state.views)
    table.caption = f"{_status(client)}{len(state.views)} symbols, {total:.1f} updates/s"
    return table


def _status(client: MarketDataClient | None) -> str:
    """The connection, for a table's caption ('' without a client)."""
    if client is None:
        return ""
    status = "[green]connected[/green]" if client.connected else "[yellow]connecting...[/yellow]"
    return status + f" to {client.address}, reconnects {client.reconnects}, "


def _colour_obi(cell: str) -> str:
    if cell.startswith("+") and cell != "+0.000":
        return f"[green]{cell}[/green]"
    if cell.startswith("-") and cell != "-":
        return f"[red]{cell}[/red]"
    return cell


class OneSymbolState:
    """The newest value of one symbol on a stream of (kind, repeated values, server_send_us)
    messages (`values`: the repeated field), and how often it changes."""

    values = ""

    def __init__(self, symbol: str, rate_window_s: float = RATE_WINDOW_S) -> None:
        self.symbol = symbol.upper()
        self.latest = None
        self.rate_window_s = rate_window_s
        self.since: float | None = None
        self.arrivals: deque[float] = deque()
        self.messages = 0

    def apply(self, message, now: float) -> None:
        self.messages += 1
        for value in getattr(message, self.values):
            if value.symbol != self.symbol:
                continue
            self.latest = value
            if self.since is None:
                self.since = now
            if message.kind == MarketUpdate.UPDATE:
                self.arrivals.append(now)

    def rate(self, now: float) -> float:
        while self.arrivals and self.arrivals[0] < now - self.rate_window_s:
            self.arrivals.popleft()
        window = 0.0 if self.since is None else min(self.rate_window_s, now - self.since)
        return len(self.arrivals) / window if window > 0 else 0.0


class LadderState(OneSymbolState):
    """The newest book of one symbol (a SubscribeBooks stream of it), and how often it changes."""

    values = "books"

    @property
    def book(self) -> market_data_pb2.BookLevels | None:
        return self.latest

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(level, bid qty, bid, ask, ask qty) per level, best first; '' where a side has no level."""
        if self.book is None:
            return []
        bids, asks = self.book.bids, self.book.asks
        rows = []
        for i in range(max(len(bids), len(asks))):
            bid = (bids[i].qty, bids[i].price) if i < len(bids) else ("", "")
            ask = (asks[i].price, asks[i].qty) if i < len(asks) else ("", "")
            rows.append((str(i + 1), *bid, *ask))
        return rows


LADDER_COLUMNS = ("#", "bid qty", "bid", "ask", "ask qty")


def render_ladder(state: LadderState, client: MarketDataClient | None = None) -> Table:
    table = Table(title=f"QuantCore book {state.symbol}", title_justify="left")
    for name in LADDER_COLUMNS:
        table.add_column(name, justify="right")
    for level, bid_qty, bid, ask, ask_qty in state.rows():
        table.add_row(level, bid_qty, f"[green]{bid}[/green]", f"[red]{ask}[/red]", ask_qty)
    book, status = state.book, _status(client)
    if book is None:
        table.caption = f"{status}no book yet"
    else:
        age = format_age((now_us() - book.kafka_append_us) / 1e6) if book.kafka_append_us else "-"
        table.caption = (f"{status}update id {book.update_id}, age {age}, "
                         f"{state.rate(time.monotonic()):.1f} books/s")
    return table


class FlowState(OneSymbolState):
    """The newest trade flow of one symbol (a SubscribeTradeFlow stream of it), and how often it changes."""

    values = "flows"

    @property
    def flow(self) -> TradeFlow | None:
        return self.latest

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(window, trades, vwap, tfi) per window, shortest first; '-' where a value is unset."""
        if self.flow is None:
            return []
        return [(window_label(w.window_ms * 1000), str(w.trade_count), format_price(optional(w, "vwap")),
                 format_obi(optional(w, "tfi"))) for w in self.flow.windows]


FLOW_COLUMNS = ("window", "trades", "vwap", "tfi")


def render_flow(state: FlowState, client: MarketDataClient | None = None) -> Table:
    table = Table(title=f"QuantCore trade flow {state.symbol}", title_justify="left")
    for name in FLOW_COLUMNS:
        table.add_column(name, justify="right")
    for window, trades, vwap, tfi in state.rows():
        table.add_row(window, trades, vwap, _colour_obi(tfi))
    flow, status = state.flow, _status(client)
    if flow is None:
        table.caption = f"{status}no trade flow yet"
    else:
        age = format_age((now_us() - flow.times.publish_us) / 1e6) if flow.times.publish_us else "-"
        table.caption = (f"{status}trade id {flow.trade_id}, age {age}, "
                         f"{state.rate(time.monotonic()):.1f} flows/s")
    return table


async def watch(client: MarketDataClient, symbols: Iterable[str] = (), *, duration_s: float | None = None,
                refresh_hz: float = 4.0, console: Console | None = None) -> WatchState:
    """Show the table until `duration_s` (or Ctrl-C). On a terminal it redraws live; otherwise
    (a pipe, a log) it prints the table every PLAIN_INTERVAL_S and once at the end."""
    symbols = [s.upper() for s in symbols]
    state = WatchState(symbols)
    await _display(client.subscribe(symbols), state, lambda: render(state, client), duration_s=duration_s,
                   refresh_hz=refresh_hz, console=console)
    return state


async def watch_books(client: MarketDataClient, symbol: str, *, depth: int = 10, duration_s: float | None = None,
                      refresh_hz: float = 4.0, console: Console | None = None) -> LadderState:
    """`watch`, for the ladder of one symbol's book (top `depth` levels per side)."""
    state = LadderState(symbol)
    await _display(client.subscribe_books([state.symbol], depth), state, lambda: render_ladder(state, client),
                   duration_s=duration_s, refresh_hz=refresh_hz, console=console)
    return state


async def watch_trade_flow(client: MarketDataClient, symbol: str, *, duration_s: float | None = None,
                           refresh_hz: float = 4.0, console: Console | None = None) -> FlowState:
    """`watch`, for the trade-flow windows of one symbol."""
    state = FlowState(symbol)
    await _display(client.subscribe_trade_flow([state.symbol]), state, lambda: render_flow(state, client),
                   duration_s=duration_s, refresh_hz=refresh_hz, console=console)
    return state


async def _display(stream, state, draw, *, duration_s: float | None, refresh_hz: float,
                   console: Console | None) -> None:
    """Fold `stream` into `state` while showing `draw()` (see `watch`)."""
    console = console or Console()

    async def consume() -> None:
        async for message in stream:
            state.apply(message, time.monotonic())

    reader = asyncio.create_task(consume())
    deadline = None if duration_s is None else time.monotonic() + duration_s
    try:
        if console.is_terminal:
            with Live(draw(), console=console, refresh_per_second=refresh_hz) as live:
                await _refresh(reader, deadline, 1 / refresh_hz, lambda: live.update(draw()))
        else:
            await _refresh(reader, deadline, PLAIN_INTERVAL_S, lambda: console.print(draw()), draw_first=False)
            console.print(draw())
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _refresh(reader: asyncio.Task, deadline: float | None, interval_s: float, redraw,
                   draw_first: bool = True) -> None:
    next_draw = time.monotonic() + (0 if draw_first else interval_s)
    while deadline is None or time.monotonic() < deadline:
        if reader.done():
            reader.result()  # a fatal error (bad token, unknown symbol) surfaces here
            return
        if time.monotonic() >= next_draw:
            redraw()
            next_draw += interval_s
        await asyncio.sleep(0.05)
