package main

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

type testUpdate struct {
	symbol    string
	updateID  int64
	publishUS int64
}

// encodeSignalUpdate writes a SignalUpdate with the fields the parser must skip
// (exchange, signals, the other pipeline times) between the ones it reads.
func encodeSignalUpdate(u testUpdate) []byte {
	var times []byte
	times = protowire.AppendTag(times, 1, protowire.VarintType) // exchange_event_us
	times = protowire.AppendVarint(times, uint64(u.publishUS-5000))
	times = protowire.AppendTag(times, pipelineTimesPublishUS, protowire.VarintType)
	times = protowire.AppendVarint(times, uint64(u.publishUS))
	var signals []byte
	signals = protowire.AppendTag(signals, 1, protowire.Fixed64Type) // obi_1, a double
	signals = protowire.AppendFixed64(signals, 0x3fe0000000000000)

	var b []byte
	b = protowire.AppendTag(b, signalUpdateSymbol, protowire.BytesType)
	b = protowire.AppendString(b, u.symbol)
	b = protowire.AppendTag(b, signalUpdateID, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(u.updateID))
	b = protowire.AppendTag(b, 3, protowire.BytesType) // exchange
	b = protowire.AppendString(b, "binance")
	b = protowire.AppendTag(b, 5, protowire.BytesType) // signals
	b = protowire.AppendBytes(b, signals)
	b = protowire.AppendTag(b, signalUpdateTimes, protowire.BytesType)
	b = protowire.AppendBytes(b, times)
	b = protowire.AppendTag(b, 8, protowire.VarintType) // simulator_seed
	b = protowire.AppendVarint(b, 42)
	return b
}

func encodeMarketUpdate(kind int64, serverSendUS int64, updates []testUpdate) []byte {
	var b []byte
	b = protowire.AppendTag(b, marketUpdateKind, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(kind))
	for _, u := range updates {
		b = protowire.AppendTag(b, marketUpdateUpdates, protowire.BytesType)
		b = protowire.AppendBytes(b, encodeSignalUpdate(u))
	}
	b = protowire.AppendTag(b, marketUpdateServerSendUS, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(serverSendUS))
}

func TestParseMarketUpdateReadsKindSendTimeAndEachUpdate(t *testing.T) {
	want := []testUpdate{
		{"BTCUSDT", 1_764_000_000_000_001, 1_764_000_000_100_000},
		{"ETHUSDT", 7, 1_764_000_000_100_250},
	}
	var got marketUpdate
	if err := parseMarketUpdate(encodeMarketUpdate(kindUpdate, 1_764_000_000_106_700, want), &got); err != nil {
		t.Fatal(err)
	}
	if got.kind != kindUpdate || got.serverSendUS != 1_764_000_000_106_700 {
		t.Fatalf("kind %d, server_send_us %d", got.kind, got.serverSendUS)
	}
	if len(got.updates) != len(want) {
		t.Fatalf("%d updates, want %d", len(got.updates), len(want))
	}
	for i, u := range got.updates {
		if string(u.symbol) != want[i].symbol || u.updateID != want[i].updateID || u.publishUS != want[i].publishUS {
			t.Errorf("update %d: %s %d %d, want %+v", i, u.symbol, u.updateID, u.publishUS, want[i])
		}
	}
}

func TestParsingAgainReplacesThePreviousMessage(t *testing.T) {
	var got marketUpdate
	first := encodeMarketUpdate(kindSnapshot, 10, []testUpdate{{"A", 1, 1}, {"B", 2, 2}})
	if err := parseMarketUpdate(first, &got); err != nil {
		t.Fatal(err)
	}
	if err := parseMarketUpdate(encodeMarketUpdate(kindUpdate, 20, []testUpdate{{"C", 3, 3}}), &got); err != nil {
		t.Fatal(err)
	}
	if got.kind != kindUpdate || got.serverSendUS != 20 || len(got.updates) != 1 || string(got.updates[0].symbol) != "C" {
		t.Fatalf("stale fields after a second parse: %+v", got)
	}
}

func TestATruncatedMessageIsAnError(t *testing.T) {
	message := encodeMarketUpdate(kindUpdate, 1, []testUpdate{{"BTCUSDT", 1, 1}})
	var got marketUpdate
	if err := parseMarketUpdate(message[:len(message)-12], &got); err == nil {
		t.Fatal("a truncated message parsed without error")
	}
}
