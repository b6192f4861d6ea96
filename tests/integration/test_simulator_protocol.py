"""The simulator speaks Binance's market-data protocol, checked with plain clients.

A simulator runs in a thread of the test process on a free port; the clients are the
`websockets` and `aiohttp` libraries used directly, not the platform's ingest code.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from decimal import Decimal

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from quantcore.polling import wait_until
from quantcore_platform.services.process import free_port
from quantcore.settings import Settings, load_settings
from streaming.ingest.exchange_info import tick_sizes
from streaming.simulator import SimulatorHandle, start_simulator
from streaming.spark import microprice_tables

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SHIBUSDT"]


@pytest.fixture(scope="module")
def sim_settings(tmp_path_factory) -> Settings:
    return load_settings(home=tmp_path_factory.mktemp("sim"), symbols=SYMBOLS, shards=1)


@pytest.fixture(scope="module")
def simulator(sim_settings) -> SimulatorHandle:
    with start_simulator(sim_settings, port=0, rate_hz=20.0, ping_interval_s=0.5, ping_timeout_s=1.0) as handle:
        yield handle


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


async def frames(url: str, count: int) -> list[str]:
    async with connect(url) as ws:
        return [await ws.recv() for _ in range(count)]


def http(url: str, method: str = "GET") -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def is_level(level) -> bool:
    return isinstance(level, list) and len(level) == 2 and all(isinstance(x, str) for x in level) \
        and Decimal(level[0]) > 0 and Decimal(level[1]) >= 0


def test_combined_diff_streams_have_binance_frames_and_contiguous_ids(simulator):
    url = f"{simulator.ws_url}/stream?streams=btcusdt@depth@100ms/shibusdt@depth@100ms"
    raw = run(frames(url, 60))
    last_u: dict[str, int] = {}
    for text in raw:
        frame = json.loads(text)
        assert set(frame) == {"stream", "data"}
        data = frame["data"]
        assert list(data) == ["e", "E", "s", "U", "u", "b", "a"]
        assert data["e"] == "depthUpdate" and frame["stream"] == f"{data['s'].lower()}@depth@100ms"
        assert abs(data["E"] - time.time() * 1000) < 60_000
        assert all(is_level(level) for level in data["b"] + data["a"])
        assert data["U"] <= data["u"]
        if data["s"] in last_u:
            assert data["U"] == last_u[data["s"]] + 1, "U must follow the previous u"
        last_u[data["s"]] = data["u"]
    assert set(last_u) == {"BTCUSDT", "SHIBUSDT"}


def test_partial_depth_streams_are_sorted_uncrossed_top_n(simulator):
    url = f"{simulator.ws_url}/stream?streams=ethusdt@depth5@100ms/ethusdt@depth20/btcusdt@depth10@100ms"
    raw = [json.loads(text) for text in run(frames(url, 50))]
    by_stream = defaultdict(list)
    for frame in raw:
        data = frame["data"]
        assert set(data) == {"lastUpdateId", "bids", "asks"}
        bids = [Decimal(p) for p, _ in data["bids"]]
        asks = [Decimal(p) for p, _ in data["asks"]]
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
        by_stream[frame["stream"]].append(data)
    assert all(len(d["bids"]) == 5 and len(d["asks"]) == 5 for d in by_stream["ethusdt@depth5@100ms"])
    assert all(len(d["bids"]) == 10 for d in by_stream["btcusdt@depth10@100ms"])
    # the 1000 ms stream sends one top-20 per second while the 100 ms ones send every event
    assert 1 <= len(by_stream.get("ethusdt@depth20", [])) < len(by_stream["ethusdt@depth5@100ms"])
    ids = [d["lastUpdateId"] for d in by_stream["ethusdt@depth5@100ms"]]
    assert ids == sorted(ids)


def test_raw_streams_send_bare_payloads(simulator):
    data = json.loads(run(frames(f"{simulator.ws_url}/ws/ethusdt@depth@100ms", 1))[0])
    assert data["e"] == "depthUpdate" and data["s"] == "ETHUSDT"
    data = json.loads(run(frames(f"{simulator.ws_url}/ws/ethusdt@depth5@100ms", 1))[0])
    assert set(data) == {"lastUpdateId", "bids", "asks"}


def test_rest_snapshot_agrees_with_the_diff_stream(simulator):
    async def check() -> None:
        async with connect(f"{simulator.ws_url}/ws/btcusdt@depth@100ms") as ws:
            events = [json.loads(await ws.recv())]
            async with aiohttp.ClientSession() as session:
                async def snapshot() -> dict:
                    async with session.get(f"{simulator.rest_url}/api/v3/depth",
                                           params={"symbol": "BTCUSDT", "limit": "5000"}) as response:
                        assert response.status == 200
                        assert response.headers["Content-Type"].startswith("application/json")
                        return await response.json()

                first = await snapshot()
                while events[-1]["u"] <= first["lastUpdateId"] + 20:
                    events.append(json.loads(await ws.recv()))
                second = await snapshot()
                while events[-1]["u"] < second["lastUpdateId"]:
                    events.append(json.loads(await ws.recv()))
        # Binance's recipe, done by hand: snapshot 1 + the diffs after it == snapshot 2
        book = {side: {Decimal(p): q for p, q in first[side]} for side in ("bids", "asks")}
        applied = [e for e in events if first["lastUpdateId"] < e["u"] <= second["lastUpdateId"]]
        assert applied[0]["U"] <= first["lastUpdateId"] + 1 <= applied[0]["u"]
        for event in applied:
            for side, key in (("bids", "b"), ("asks", "a")):
                for price, qty in event[key]:
                    if Decimal(qty) == 0:
                        book[side].pop(Decimal(price), None)
                    else:
                        book[side][Decimal(price)] = qty
        assert applied[-1]["u"] == second["lastUpdateId"]
        assert book == {side: {Decimal(p): q for p, q in second[side]} for side in ("bids", "asks")}

    run(check())


def test_rest_errors_look_like_binance(simulator):
    assert http(f"{simulator.rest_url}/api/v3/depth?symbol=NOPEUSDT") == (400, {"code": -1121,
                                                                             "msg": "Invalid symbol."})
    status, body = http(f"{simulator.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=0")
    assert status == 400 and body["code"] == -1100
    # "If limit > 5000, only 5000 entries will be returned." (rest-api.md, Order book)
    status, body = http(f"{simulator.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=6000")
    assert status == 200 and 0 < len(body["bids"]) <= 5000
    status, body = http(f"{simulator.rest_url}/api/v3/depth?symbol=btcusdt&limit=3")
    assert status == 200 and len(body["bids"]) == 3 and len(body["asks"]) == 3
    assert http(f"{simulator.rest_url}/api/v3/ping") == (200, {})


def test_subscribe_unsubscribe_list_and_properties(simulator):
    async def session() -> None:
        async with connect(f"{simulator.ws_url}/ws") as ws:
            async def reply(message: dict) -> dict:
                await ws.send(json.dumps(message))
                while True:  # stream frames may arrive before the reply
                    data = json.loads(await ws.recv())
                    if "id" in data and ("result" in data or "error" in data):
                        return data

            assert await reply({"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms", "ethusdt@depth5"],
                                "id": 1}) == {"result": None, "id": 1}
            data = json.loads(await ws.recv())
            assert "stream" not in data  # /ws sends bare payloads
            assert await reply({"method": "LIST_SUBSCRIPTIONS", "id": 2}) == {
                "result": ["btcusdt@depth@100ms", "ethusdt@depth5"], "id": 2}
            await asyncio.sleep(1.1)  # stay under 5 incoming messages per second
            assert await reply({"method": "UNSUBSCRIBE", "params": ["ethusdt@depth5"], "id": 3}) == {
                "result": None, "id": 3}
            assert (await reply({"method": "LIST_SUBSCRIPTIONS", "id": 4}))["result"] == ["btcusdt@depth@100ms"]
            assert await reply({"method": "SET_PROPERTY", "params": ["combined", True], "id": 5}) == {
                "result": None, "id": 5}
            while "stream" not in (frame := json.loads(await ws.recv())):
                pass
            assert frame["stream"] == "btcusdt@depth@100ms"
            await asyncio.sleep(1.1)
            bad = await reply({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 6})
            assert bad["id"] == 6 and bad["error"]["code"] == 2
            assert (await reply({"method": "GET_PROPERTY", "params": ["combined"], "id": 7}))["result"] is True
            await ws.send("not json")
            while "error" not in (frame := json.loads(await ws.recv())):
                pass
            assert frame["error"]["code"] == 3

    run(session())


def test_more_than_5_messages_per_second_closes_the_connection(simulator):
    async def flood() -> int:
        async with connect(f"{simulator.ws_url}/ws") as ws:
            for i in range(7):
                await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ws.recv()
            return closed.value.rcvd.code

    assert run(flood()) == 1008


def test_more_than_1024_streams_per_connection_are_refused(sim_settings):
    symbols = [f"SYM{i:03d}USDT" for i in range(130)]  # 8 depth streams each: 1040 streams
    streams = [f"{s.lower()}@depth{n}{speed}" for s in symbols for n in ("", "5", "10", "20")
               for speed in ("", "@100ms")]

    async def subscribe() -> tuple[dict, dict]:
        async with connect(f"{handle.ws_url}/ws", max_size=2**22) as ws:
            async def reply(message: dict) -> dict:
                await ws.send(json.dumps(message))
                while "id" not in (data := json.loads(await ws.recv())):
                    pass
                return data

            return (await reply({"method": "SUBSCRIBE", "params": streams[:1024], "id": 1}),
                    await reply({"method": "SUBSCRIBE", "params": streams[1024:], "id": 2}))

    with start_simulator(sim_settings, symbols=symbols, port=0, rate_hz=1.0, levels=20) as handle:
        accepted, refused = run(subscribe())
        assert accepted == {"result": None, "id": 1}
        assert refused["id"] == 2 and "more than 1024 streams" in refused["error"]["msg"]
        with pytest.raises(InvalidStatus) as too_long:  # 1025 streams in the URL
            run(frames(f"{handle.ws_url}/stream?streams={'/'.join(streams[:1025])}", 1))
        assert too_long.value.response.status_code in (400, 414)


def test_unknown_streams_are_refused_at_connect(simulator):
    with pytest.raises(InvalidStatus) as refused:
        run(frames(f"{simulator.ws_url}/stream?streams=nopeusdt@depth", 1))
    assert refused.value.response.status_code == 400
    with pytest.raises(InvalidStatus):
        run(frames(f"{simulator.ws_url}/stream?streams=btcusdt@kline_1m", 1))
    with pytest.raises(InvalidStatus):
        run(frames(f"{simulator.ws_url}/elsewhere", 1))
    # duplicates count once, every partial depth and speed is served
    names = "/".join(f"btcusdt@depth{n}" for n in (5, 10, 20)) + "/ethusdt@depth@100ms/ethusdt@depth@100ms"
    assert run(frames(f"{simulator.ws_url}/stream?streams={names}", 1))


def test_the_server_pings_and_drops_a_client_that_never_pongs(simulator):
    async def session(answer: bool) -> tuple[int, bool]:
        pings = 0
        async with aiohttp.ClientSession() as client:
            async with client.ws_connect(f"{simulator.ws_url}/ws/btcusdt@depth@100ms", autoping=False) as ws:
                deadline = time.monotonic() + 3.0
                while time.monotonic() < deadline:
                    message = await ws.receive(timeout=5)
                    if message.type == aiohttp.WSMsgType.PING:
                        pings += 1
                        if answer:
                            await ws.pong(message.data)  # echo the payload, as Binance asks
                    elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        return pings, True
                return pings, False

    pings, dropped = run(session(answer=True))
    assert pings >= 3 and not dropped
    pings, dropped = run(session(answer=False))
    assert pings >= 1 and dropped


def test_faults_on_demand_through_http(simulator):
    async def watch_for_gap() -> tuple[int, int]:
        async with connect(f"{simulator.ws_url}/ws/ethusdt@depth@100ms") as ws:
            previous = json.loads(await ws.recv())
            status, _ = await asyncio.to_thread(http, f"{simulator.rest_url}/_faults?kind=gap&symbol=ETHUSDT", "POST")
            assert status == 200
            while True:
                event = json.loads(await ws.recv())
                if event["U"] != previous["u"] + 1:
                    return previous["u"], event["U"]
                previous = event

    last, first = run(watch_for_gap())
    assert first > last + 1

    async def watch_for_malformed() -> list[str]:
        async with connect(f"{simulator.ws_url}/ws/btcusdt@depth@100ms") as ws:
            await ws.recv()
            status, _ = await asyncio.to_thread(
                http, f"{simulator.rest_url}/_faults?kind=malformed&symbol=BTCUSDT&count=5", "POST")
            assert status == 200
            bad = []
            while len(bad) < 5:
                text = await ws.recv()
                try:
                    data = json.loads(text)
                    if "u" in data and all(Decimal(q) >= 0 for _, q in data["b"] + data["a"]) and \
                            all(Decimal(p).is_finite() for p, _ in data["b"] + data["a"]):
                        continue
                except (ValueError, ArithmeticError):
                    pass
                bad.append(text)
            return bad

    assert len(set(run(watch_for_malformed()))) == 5
    status, body = http(f"{simulator.rest_url}/_faults?kind=meteor&symbol=BTCUSDT", "POST")
    assert status == 400 and "kinds: gap, crossed, malformed, drop, stall" in body["msg"]
    assert http(f"{simulator.rest_url}/_status")[1]["faults_injected"]["gap"] >= 1


def test_dropped_and_stalled_connections(simulator):
    async def dropped() -> None:
        async with connect(f"{simulator.ws_url}/ws/btcusdt@depth@100ms") as ws:
            await ws.recv()
            await asyncio.to_thread(simulator.drop_connections)
            with pytest.raises(ConnectionClosed):
                while True:
                    await ws.recv()

    async def stalled() -> int:
        async with connect(f"{simulator.ws_url}/ws/btcusdt@depth@100ms", ping_interval=0.2,
                           ping_timeout=0.5) as ws:
            await ws.recv()
            await asyncio.to_thread(simulator.stall, 3.0)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ws.recv()  # frames keep coming, pongs do not
            return closed.value.sent.code

    run(dropped())
    assert run(stalled()) == 1011  # websockets' "keepalive ping timeout"


def test_the_cli_serves_until_sigterm(sim_settings):
    port = free_port()
    env = sim_settings.child_env("market", "simulator")
    process = subprocess.Popen([sys.executable, "-m", "quantcore_platform.cli", "simulator", "--port", str(port),
                                "--rate-hz", "5", "--symbols", "BTCUSDT,ETHUSDT"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def answered() -> tuple[int, dict] | None:
            try:
                return http(f"http://127.0.0.1:{port}/_status")
            except OSError:  # not listening yet
                return None

        status, body = wait_until(answered, 30, "the simulator's /_status", interval=0.2)
        assert status == 200 and body["symbols"] == 2 and body["rate_hz"] == 5
        data = json.loads(run(frames(f"ws://127.0.0.1:{port}/ws/ethusdt@depth@100ms", 1))[0])
        assert data["s"] == "ETHUSDT"
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert f"on ws://127.0.0.1:{port}" in output


def http_with_headers(url: str) -> tuple[int, dict, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_a_standard_client_starts_up_and_keeps_a_local_book(simulator):
    """What a Binance client library does first: load the symbol table, then follow
    web-socket-streams.md "How to manage a local order book correctly" on `@depth@1000ms`."""
    async def client() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{simulator.rest_url}/api/v3/exchangeInfo") as response:
                assert response.status == 200 and "X-MBX-USED-WEIGHT-1M" in response.headers
                info = await response.json()
            symbols = {s["symbol"]: s for s in info["symbols"]}
            assert set(symbols) == set(SYMBOLS) and all(s["status"] == "TRADING" for s in symbols.values())
            filters = {f["filterType"]: f for f in symbols["BTCUSDT"]["filters"]}
            tick, step = Decimal(filters["PRICE_FILTER"]["tickSize"]), Decimal(filters["LOT_SIZE"]["stepSize"])
            async with connect(f"{simulator.ws_url}/ws/btcusdt@depth@1000ms") as ws:
                buffered = [json.loads(await ws.recv())]  # 1-2: open the stream, buffer its events
                async with session.get(f"{simulator.rest_url}/api/v3/depth",
                                       params={"symbol": "BTCUSDT", "limit": "1000"}) as response:
                    assert response.status == 200
                    snapshot = await response.json()  # 3: the snapshot
                while len([e for e in buffered if e["u"] > snapshot["lastUpdateId"]]) < 3:
                    buffered.append(json.loads(await ws.recv()))
        book = {side: {Decimal(p): Decimal(q) for p, q in snapshot[side]} for side in ("bids", "asks")}
        events = [e for e in buffered if e["u"] > snapshot["lastUpdateId"]]  # 4: drop u <= lastUpdateId
        assert events[0]["U"] <= snapshot["lastUpdateId"] + 1 <= events[0]["u"]  # 5
        for previous, event in itertools.pairwise(events):
            assert event["U"] == previous["u"] + 1  # 6
        for event in events:
            assert event["e"] == "depthUpdate" and event["s"] == "BTCUSDT"
            for side, key in (("bids", "b"), ("asks", "a")):
                for price, qty in event[key]:
                    assert Decimal(price) % tick == 0 and Decimal(qty) % step == 0
                    if Decimal(qty) == 0:
                        book[side].pop(Decimal(price), None)  # 8 (9: absent levels are fine)
                    else:
                        book[side][Decimal(price)] = Decimal(qty)  # 7
        assert max(book["bids"]) < min(book["asks"])

    run(client())


def test_the_micro_price_tables_read_ticks_from_the_simulators_exchange_info(simulator, sim_settings):
    """streaming/ingest/exchange_info.py over HTTP, from the REST base the ingest would use."""
    ticks = microprice_tables.exchange_ticks(sim_settings.override(simulator_port=simulator.port))
    assert ticks.origin == f"exchangeInfo {simulator.rest_url}/api/v3/exchangeInfo"
    assert tick_sizes(ticks.info, SYMBOLS) == {"BTCUSDT": 0.01, "ETHUSDT": 0.01, "SHIBUSDT": 0.00000001}
    assert ticks("SHIBUSDT") == microprice_tables.tick_size("SHIBUSDT")


def test_depth_1000ms_is_the_plain_depth_stream_under_its_own_name(simulator):
    async def watch() -> dict[str, list[dict]]:
        names = "btcusdt@depth@1000ms/btcusdt@depth/ethusdt@depth5@1000ms"
        async with connect(f"{simulator.ws_url}/stream?streams={names}") as ws:
            seen: dict[str, list[dict]] = defaultdict(list)
            while len(seen) < 3 or min(len(v) for v in seen.values()) < 2:
                frame = json.loads(await ws.recv())
                seen[frame["stream"]].append(frame["data"])
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["shibusdt@depth@1000ms"], "id": 1}))
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
            while "id" not in (reply := json.loads(await ws.recv())) or reply["id"] != 2:
                pass
            assert reply["result"] == ["btcusdt@depth", "btcusdt@depth@1000ms", "ethusdt@depth5@1000ms",
                                       "shibusdt@depth@1000ms"]
            return seen

    started = time.monotonic()
    seen = run(watch())
    assert set(seen) == {"btcusdt@depth@1000ms", "btcusdt@depth", "ethusdt@depth5@1000ms"}
    assert seen["btcusdt@depth@1000ms"][:2] == seen["btcusdt@depth"][:2]  # one stream, two names
    assert seen["btcusdt@depth@1000ms"][1]["U"] == seen["btcusdt@depth@1000ms"][0]["u"] + 1
    assert all(len(d["bids"]) == 5 for d in seen["ethusdt@depth5@1000ms"])
    assert time.monotonic() - started >= 0.9  # once a second, not every event


def test_request_weight_headers_and_429_past_the_limit(sim_settings):
    if time.time() % 60 > 50:  # the counter resets each wall-clock minute: start well inside one
        time.sleep(61 - time.time() % 60)
    with start_simulator(sim_settings, port=0, rate_hz=1.0, weight_limit_per_minute=40) as handle:
        base = handle.rest_url
        used = []
        for path in ("/api/v3/ping", "/api/v3/exchangeInfo", "/api/v3/depth?symbol=BTCUSDT",
                     "/api/v3/ticker/bookTicker", "/api/v3/time", "/api/v3/depth?symbol=NOPEUSDT"):
            status, headers, _ = http_with_headers(base + path)
            assert headers["X-MBX-USED-WEIGHT-1M"] == headers["X-MBX-USED-WEIGHT"]
            used.append((status, int(headers["X-MBX-USED-WEIGHT-1M"])))
        assert used == [(200, 1), (200, 21), (200, 26), (200, 30), (200, 31), (400, 36)]
        status, headers, body = http_with_headers(f"{base}/_status")  # the simulator's own routes weigh nothing
        assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "36" and body["weight_limit_per_minute"] == 40
        status, headers, body = http_with_headers(f"{base}/api/v3/depth?symbol=BTCUSDT&limit=101")
        assert status == 429 and headers["X-MBX-USED-WEIGHT-1M"] == "61"
        assert body["code"] == -1003 and "current limit is 40 request weight per 1 MINUTE" in body["msg"]
        assert 1 <= int(headers["Retry-After"]) <= 60
        assert http_with_headers(f"{base}/api/v3/ping")[0] == 429  # still limited until the minute ends


# Binance's own examples (binance-spot-api-docs, web-socket-streams.md: "Trade Streams" and
# "Aggregate Trade Streams"): the field names, their order and their JSON types.
GOLDEN_TRADE = {"e": "trade", "E": 1672515782136, "s": "BNBBTC", "t": 12345, "p": "0.001", "q": "100",
                "T": 1672515782136, "m": True, "M": True}
GOLDEN_AGG_TRADE = {"e": "aggTrade", "E": 1672515782136, "s": "BNBBTC", "a": 12345, "p": "0.001", "q": "100",
                    "f": 100, "l": 105, "T": 1672515782136, "m": True, "M": True}


def shape(payload: dict) -> list[tuple[str, type]]:
    return [(key, type(value)) for key, value in payload.items()]


def test_trade_streams_are_binance_shaped_continuous_and_near_the_book(simulator):
    """Shapes as Binance documents them, trade ids +1 without gaps, prices at the book. (A step
    is many micro events, so a print may hit a level that arrived within the same step: the
    exact fill-by-fill consistency is the model's unit test, test_simulator_market.py.)"""
    streams = "btcusdt@trade/btcusdt@aggTrade/btcusdt@depth@100ms"

    async def collect() -> tuple[dict, list[dict]]:
        async with connect(f"{simulator.ws_url}/stream?streams={streams}") as ws:
            frames_seen = [json.loads(await ws.recv()) for _ in range(5)]  # buffered before the snapshot
            _, snapshot = http(f"{simulator.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=5000")
            trades = 0
            while trades < 40:
                frame = json.loads(await ws.recv())
                frames_seen.append(frame)
                trades += frame["stream"] == "btcusdt@trade"
            return snapshot, frames_seen

    snapshot, seen = asyncio.run(asyncio.wait_for(collect(), 120))
    book = {"b": {p: q for p, q in snapshot["bids"]}, "a": {p: q for p, q in snapshot["asks"]}}
    synced, trade_ids, agg_ids, checked = False, [], [], 0
    for frame in seen:
        data = frame["data"]
        if frame["stream"] == "btcusdt@depth@100ms":
            if data["u"] <= snapshot["lastUpdateId"]:
                continue
            assert synced or data["U"] <= snapshot["lastUpdateId"] + 1, "the first diff after the snapshot"
            synced = True
            for side in ("b", "a"):
                for price, qty in data[side]:
                    if Decimal(qty) == 0:
                        book[side].pop(price, None)
                    else:
                        book[side][price] = qty
        elif frame["stream"] == "btcusdt@trade":
            assert shape(data) == shape(GOLDEN_TRADE) and data["s"] == "BTCUSDT"
            trade_ids.append(data["t"])
            if synced:
                mid = (max(map(Decimal, book["b"])) + min(map(Decimal, book["a"]))) / 2
                assert abs(Decimal(data["p"]) - mid) / mid < Decimal("0.001"), (data, mid)
                checked += 1
        else:
            assert shape(data) == shape(GOLDEN_AGG_TRADE) and data["f"] == data["l"] == data["a"]
            agg_ids.append(data["a"])
    assert trade_ids == list(range(trade_ids[0], trade_ids[0] + len(trade_ids))), "trade ids +1, no gaps"
    assert agg_ids == list(range(agg_ids[0], agg_ids[0] + len(agg_ids))) and set(agg_ids) & set(trade_ids)
    assert checked >= 20, checked
