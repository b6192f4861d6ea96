"""The simulator's optional TLS listener: `wss://` and `https://` with a certificate the
test makes (tests/support/tls.py); plain `ws://`/`http://` clients fail on that port."""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
import urllib.error
import urllib.request

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage

from quantcore.settings import load_settings
from streaming.ingest.exchange_info import fetch_exchange_info, tick_sizes
from streaming.simulator import start_simulator
from tests.support.tls import client_context, self_signed_cert

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return load_settings(home=tmp_path_factory.mktemp("sim-tls"), symbols=SYMBOLS, shards=1)


@pytest.fixture(scope="module")
def tls_simulator(settings, certificate):
    cert, key = certificate
    with start_simulator(settings, port=0, rate_hz=20.0, certfile=cert, keyfile=key) as handle:
        yield handle


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def test_urls_say_wss_and_https(tls_simulator):
    assert tls_simulator.ws_url == f"wss://127.0.0.1:{tls_simulator.port}"
    assert tls_simulator.rest_url == f"https://127.0.0.1:{tls_simulator.port}"
    assert tls_simulator.status()["tls"] is True


def test_wss_streams_with_the_generated_certificate(tls_simulator, certificate):
    async def frames() -> list[dict]:
        async with connect(f"{tls_simulator.ws_url}/stream?streams=btcusdt@depth@100ms/ethusdt@depth@1000ms",
                           ssl=client_context(certificate[0])) as ws:
            return [json.loads(await ws.recv()) for _ in range(3)]

    got = run(frames())
    assert all(frame["data"]["e"] == "depthUpdate" for frame in got)
    assert {frame["stream"] for frame in got} <= {"btcusdt@depth@100ms", "ethusdt@depth@1000ms"}


def test_https_rest_with_the_generated_certificate(tls_simulator, certificate):
    context = client_context(certificate[0])
    with urllib.request.urlopen(f"{tls_simulator.rest_url}/api/v3/exchangeInfo", context=context,
                                timeout=10) as response:
        assert response.status == 200 and response.headers["X-MBX-USED-WEIGHT-1M"]
        assert [s["symbol"] for s in json.loads(response.read())["symbols"]] == SYMBOLS

    async def depth() -> dict:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{tls_simulator.rest_url}/api/v3/depth", params={"symbol": "ETHUSDT", "limit": "5"},
                                   ssl=context) as response:
                assert response.status == 200
                return await response.json()

    assert len(run(depth())["bids"]) == 5


def test_exchange_info_is_fetched_over_https_trusting_ssl_cert_file(tls_simulator, certificate, monkeypatch):
    """The micro-price tables' tick fetch (streaming/ingest/exchange_info.py) trusts the
    certificate the way the ingest does."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    info = fetch_exchange_info(tls_simulator.rest_url)
    assert tick_sizes(info, SYMBOLS) == {"BTCUSDT": 0.01, "ETHUSDT": 0.01}


def test_an_untrusting_client_is_refused(tls_simulator):
    async def attempt() -> None:
        async with connect(f"{tls_simulator.ws_url}/ws/btcusdt@depth", ssl=ssl.create_default_context()):
            pass

    with pytest.raises(ssl.SSLCertVerificationError):  # self-signed: not in the system's trust store
        run(attempt())


def test_plain_ws_and_http_fail_on_the_tls_port(tls_simulator):
    async def plain_ws() -> None:
        async with connect(f"ws://127.0.0.1:{tls_simulator.port}/ws/btcusdt@depth@100ms", open_timeout=5) as ws:
            await ws.recv()

    with pytest.raises(InvalidMessage):  # the TLS side closes on a plaintext request: no HTTP answer
        run(plain_ws())
    connection = http.client.HTTPConnection("127.0.0.1", tls_simulator.port, timeout=5)
    try:
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            connection.request("GET", "/api/v3/ping")
            connection.getresponse()
    finally:
        connection.close()


def test_an_ssl_context_option_works_too(settings, certificate):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    with start_simulator(settings, port=0, rate_hz=5.0, ssl_context=context) as handle:
        assert handle.rest_url.startswith("https://")
        with urllib.request.urlopen(f"{handle.rest_url}/api/v3/time", context=client_context(cert),
                                    timeout=10) as response:
            assert "serverTime" in json.loads(response.read())


def test_the_cli_serves_tls_and_the_ingest_edges_follow_it(tmp_path, certificate):
    """`quantcore simulator --certfile --keyfile --weight-limit` and `quantcore record` (the
    ingest's connection and snapshot code) over wss/https, trusting the certificate through
    SSL_CERT_FILE as the README says."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from quantcore.polling import wait_until
    from quantcore_platform.services.process import free_port
    from streaming.recording.format import RestAnswer, WsFrame, read_entries

    cert, key = certificate
    repo = Path(__file__).resolve().parents[2]
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("QUANTCORE_")},
           "QUANTCORE_CONFIG": "", "QUANTCORE_HOME": str(tmp_path), "QUANTCORE_SIMULATOR_PORT": str(port),
           "QUANTCORE_SYMBOLS": ",".join(SYMBOLS), "QUANTCORE_SHARDS": "1", "SSL_CERT_FILE": str(cert)}
    cli = [sys.executable, "-m", "quantcore_platform.cli"]
    simulator = subprocess.Popen([*cli, "simulator", "--certfile", str(cert), "--keyfile", str(key),
                                  "--weight-limit", "150"], env=env, cwd=repo,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/api/v3/time", context=client_context(cert),
                                            timeout=2) as response:
                    return response.headers["X-MBX-USED-WEIGHT-1M"] is not None
            except OSError:
                return False

        wait_until(answers, 30, "the TLS simulator", interval=0.2, alive=lambda: simulator.poll() is None)
        out = tmp_path / "tls.jsonl.gz"
        recorded = subprocess.run([*cli, "record", "--out", str(out), "--seconds", "2", "--extra", ""],
                                  env={**env, "QUANTCORE_SIMULATOR_TLS_CERTFILE": str(cert)}, cwd=repo,
                                  capture_output=True, text=True, timeout=60)
        assert recorded.returncode == 0, recorded.stderr[-2000:]
        entries = list(read_entries(out))
        assert sum(isinstance(e, WsFrame) for e in entries) > 10
        depth = [e for e in entries if isinstance(e, RestAnswer) and e.path == "/api/v3/depth"]
        assert len(depth) == len(SYMBOLS) and all(e.status == 200 for e in depth)
        # 150 weight a minute: the readiness polls of /time (1 each), exchangeInfo (20) and the two
        # 1000-level snapshots (50 each) leave less than another 1000-level snapshot
        with pytest.raises(urllib.error.HTTPError) as limited:
            urllib.request.urlopen(f"https://127.0.0.1:{port}/api/v3/depth?symbol=BTCUSDT&limit=1000",
                                   context=client_context(cert), timeout=5)
        assert limited.value.code == 429
    finally:
        simulator.terminate()
        simulator.wait(30)
