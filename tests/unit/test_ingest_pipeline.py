"""Frames in, normalized records and dead letters out: the shard's core with a list sink."""

from __future__ import annotations

import json

from quantcore import wire
from quantcore.settings import Source
from streaming.ingest.pipeline import ShardPipeline
from streaming.ingest.records import Provenance
from streaming.simulator.model import SymbolModel
from streaming.simulator.protocol import combined_frame, diff_payload, dumps, partial_payload


SIMULATED = Provenance.of(Source.simulator, simulator_seed=7)
LIVE = Provenance.of(Source.binance, simulator_seed=7)


class ListSink:
    def __init__(self) -> None:
        self.records: list[tuple[str, wire.BookRecord]] = []
        self.dead: list[tuple[str, wire.DeadLetter]] = []

    def publish(self, symbol: str, value: bytes, *_ids_and_time: int) -> None:
        self.records.append((symbol, wire.BookRecord.FromString(value)))

    def dead_letter(self, symbol: str, value: bytes) -> None:
        self.dead.append((symbol, wire.DeadLetter.FromString(value)))


def diff_frame(event, time_ms: int = 1_700_000_000_000) -> str:
    return combined_frame(f"{event.symbol.lower()}@depth@100ms", dumps(diff_payload(event, time_ms)))


def diff_pipeline(symbols=("BTCUSDT", "ETHUSDT")):
    sink, requested = ListSink(), []
    pipeline = ShardPipeline(shard_id=2, symbols=list(symbols), mode="diff", depth=5, sink=sink,
                             provenance=SIMULATED, request_snapshot=requested.append)
    return pipeline, sink, requested


def test_diff_mode_syncs_on_the_snapshot_and_emits_the_true_top_n():
    model = SymbolModel("BTCUSDT", seed=1)
    pipeline, sink, requested = diff_pipeline()
    first = model.step()
    pipeline.on_frame(diff_frame(first), received_us=111)
    assert requested == ["BTCUSDT"] and sink.records == []
    pipeline.on_frame(diff_frame(model.step()), received_us=222)
    assert requested == ["BTCUSDT"], "one snapshot request per sync"
    assert pipeline.on_snapshot("BTCUSDT", json.dumps(model.snapshot(1000)))
    for i in range(50):
        pipeline.on_frame(diff_frame(model.step(), 1_700_000_000_000 + i), received_us=1000 + i)
    records = [r for _, r in sink.records]
    assert len(records) == 50  # the two buffered events are older than the snapshot
    last = records[-1]
    bids, asks = model.top(5)
    assert [(lv.price, lv.qty) for lv in last.bids] == bids and [(lv.price, lv.qty) for lv in last.asks] == asks
    assert (last.exchange, last.symbol, last.shard_id) == ("binance", "BTCUSDT", 2)
    assert last.mode == wire.BookMode.Value("BOOK_MODE_LOCAL_BOOK")
    assert last.update_id == model.last_update_id and last.ingest_time_us == 1049
    assert last.event_time_us == (1_700_000_000_000 + 49) * 1000
    for previous, record in zip(records, records[1:]):
        assert record.first_update_id == previous.update_id + 1  # no gap
    assert pipeline.counters.books == 50 and pipeline.counters.snapshots == 1


def test_a_gap_resyncs_and_shows_in_the_records():
    model = SymbolModel("BTCUSDT", seed=2)
    pipeline, sink, requested = diff_pipeline()
    pipeline.on_frame(diff_frame(model.step()), 1)
    pipeline.on_snapshot("BTCUSDT", json.dumps(model.snapshot(1000)))
    pipeline.on_frame(diff_frame(model.step()), 2)
    model.step()  # lost
    pipeline.on_frame(diff_frame(model.step()), 3)
    assert pipeline.counters.resyncs == 1 and requested == ["BTCUSDT", "BTCUSDT"]
    pipeline.on_frame(diff_frame(model.step()), 4)
    pipeline.on_snapshot("BTCUSDT", json.dumps(model.snapshot(1000)))
    pipeline.on_frame(diff_frame(model.step()), 5)
    ids = [(r.first_update_id, r.update_id) for _, r in sink.records]
    assert ids[0][1] < ids[1][0] - 1, "the lost event is a visible gap"
    assert [a[1] for a in ids] == sorted({a[1] for a in ids})


def test_a_crossed_event_resyncs_and_is_counted():
    model = SymbolModel("ETHUSDT", seed=3)
    pipeline, sink, _ = diff_pipeline()
    pipeline.on_frame(diff_frame(model.step()), 1)
    pipeline.on_snapshot("ETHUSDT", json.dumps(model.snapshot(1000)))
    pipeline.on_frame(diff_frame(model.crossed_event()), 2)
    assert (pipeline.counters.resyncs, pipeline.counters.crossed) == (1, 1)
    assert sink.records == []


def test_an_unusable_snapshot_asks_for_another():
    model = SymbolModel("BTCUSDT", seed=4)
    pipeline, sink, _ = diff_pipeline()
    pipeline.on_frame(diff_frame(model.step()), 1)
    assert not pipeline.on_snapshot("BTCUSDT", b"<html>busy</html>")
    assert sink.dead[0][1].reason.startswith("invalid snapshot")
    assert pipeline.counters.snapshot_retries == 1


def test_bad_frames_become_dead_letters_and_the_stream_goes_on():
    model = SymbolModel("BTCUSDT", seed=5)
    pipeline, sink, _ = diff_pipeline()
    pipeline.on_frame(diff_frame(model.step()), 1)
    pipeline.on_snapshot("BTCUSDT", json.dumps(model.snapshot(1000)))
    bad = [
        '{"stream":"btcusdt@depth@100ms","data":{"e":"depth',
        combined_frame("btcusdt@depth@100ms", dumps({**diff_payload(model.step(), 1), "b": [["1.0", "NaN"]]})),
        combined_frame("dogeusdt@depth@100ms", "{}"),
    ]
    for frame in bad:
        pipeline.on_frame(frame, 2)
    assert [d.symbol for _, d in sink.dead] == ["", "BTCUSDT", "DOGEUSDT"]
    assert [d.payload for _, d in sink.dead] == [f.encode() for f in bad]
    assert all(d.stage == "ingest" and d.reason and d.time_us > 0 for _, d in sink.dead)
    assert "NaN" in sink.dead[1][1].reason and "unexpected stream" in sink.dead[2][1].reason
    # the NaN frame carried real ids: losing it is a gap, caught by the next event
    pipeline.on_frame(diff_frame(model.step()), 3)
    assert pipeline.counters.resyncs == 1 and pipeline.counters.dead_letters == 3


def test_control_replies_are_not_dead_letters():
    pipeline, sink, _ = diff_pipeline()
    pipeline.on_frame('{"result":null,"id":1}', 1)
    pipeline.on_frame('{"error":{"code":2,"msg":"Invalid request"},"id":2}', 1)
    assert sink.dead == [] and pipeline.counters.frames == 2


def test_partial_mode_emits_top_n_and_drops_repeats():
    model = SymbolModel("ETHUSDT", seed=6)
    sink = ListSink()
    pipeline = ShardPipeline(shard_id=0, symbols=["ETHUSDT"], mode="partial", depth=10, sink=sink,
                             provenance=LIVE)
    assert pipeline.streams == ["ethusdt@depth10@100ms"]

    def frame() -> str:
        bids, asks = model.top(10)
        return combined_frame("ethusdt@depth10@100ms", dumps(partial_payload(model.last_update_id, bids, asks)))

    first = frame()
    model.step()
    second = frame()
    for raw in (first, second, first, second):  # a replay after a reconnect
        pipeline.on_frame(raw, 7)
    records = [r for _, r in sink.records]
    assert len(records) == 2 and pipeline.counters.stale == 2
    record = records[-1]
    assert record.mode == wire.BookMode.Value("BOOK_MODE_PARTIAL_SNAPSHOT")
    assert (record.update_id, record.first_update_id, record.event_time_us) == (model.last_update_id, 0, 0)
    assert [(lv.price, lv.qty) for lv in record.asks] == model.top(10)[1]


def test_every_record_says_where_it_came_from():
    """Simulated books are labelled with the simulator and its seed, live ones with the exchange."""
    assert (SIMULATED.origin, SIMULATED.simulator_seed) == (wire.Origin.Value("ORIGIN_SIMULATOR"), 7)
    assert (LIVE.origin, LIVE.simulator_seed) == (wire.Origin.Value("ORIGIN_EXCHANGE"), 0)
    model = SymbolModel("BTCUSDT", seed=7)
    pipeline, sink, _ = diff_pipeline(("BTCUSDT",))
    pipeline.on_frame(diff_frame(model.step()), received_us=1)
    assert pipeline.on_snapshot("BTCUSDT", json.dumps(model.snapshot(1000)))
    pipeline.on_frame(diff_frame(model.step()), received_us=2)
    assert sink.records and all(r.origin == wire.Origin.Value("ORIGIN_SIMULATOR") and r.simulator_seed == 7
                                for _, r in sink.records)
