package main

import "testing"

func TestTallyCountsOnlyUpdatesInsideTheWindow(t *testing.T) {
	var message marketUpdate
	raw := encodeMarketUpdate(kindUpdate, 1_000, []testUpdate{{"A", 9, 100}, {"B", 10, 200}, {"C", 11, 300}, {"D", 13, 400}})
	if err := parseMarketUpdate(raw, &message); err != nil {
		t.Fatal(err)
	}
	counted := tally{sampled: true}
	counted.add(&message, 1_500, window{low: 10, high: 12})

	if counted.count != 2 {
		t.Fatalf("counted %d updates, want 2 (ids 10 and 11)", counted.count)
	}
	if len(counted.latencies) != 2 || counted.latencies[0] != 1_300 || counted.latencies[1] != 1_200 {
		t.Errorf("latencies %v, want [1300 1200]", counted.latencies)
	}
	// publish of the message's first update -> server send, then server send -> receive.
	if len(counted.hops) != 2 || counted.hops[0] != 900 || counted.hops[1] != 500 {
		t.Errorf("hops %v, want [900 500]", counted.hops)
	}
	if len(counted.seen) != 2 || counted.seen[0] != (seenUpdate{"B", int64(10), int64(1_500)}) {
		t.Errorf("seen %v", counted.seen)
	}
}

func TestTallyIgnoresSnapshots(t *testing.T) {
	var message marketUpdate
	if err := parseMarketUpdate(encodeMarketUpdate(kindSnapshot, 1_000, []testUpdate{{"A", 10, 100}}), &message); err != nil {
		t.Fatal(err)
	}
	var counted tally
	counted.add(&message, 1_500, window{low: 0, high: 100})
	if counted.count != 0 || len(counted.latencies) != 0 || len(counted.hops) != 0 {
		t.Fatalf("a snapshot was counted: %+v", counted)
	}
}
