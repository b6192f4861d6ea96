package main

// window is the range of update ids the parent counts: the measured load, not the
// warm-up before it nor the snapshot.
type window struct {
	low, high int64
}

// seenUpdate is one counted update of a sampled stream, for the visibility figure;
// it goes to JSON as [symbol, update_id, receive_us].
type seenUpdate [3]any

// tally is one stream's counted updates, the same figures as `tally` in
// bench/scenarios/fanout.py computes from the Python workers' stamps.
type tally struct {
	count     int64   // updates received inside the window
	latencies []int64 // receive_us - publish_us of each counted update
	hops      []int64 // per message with counted updates: publish -> server send, server send -> receive
	seen      []seenUpdate
	sampled   bool // keep `seen`
}

// add counts a message's updates that fall inside the window; snapshots are not counted.
func (t *tally) add(message *marketUpdate, receivedUS int64, w window) {
	if message.kind != kindUpdate {
		return
	}
	counted := 0
	for _, update := range message.updates {
		if update.updateID < w.low || update.updateID > w.high {
			continue
		}
		counted++
		t.latencies = append(t.latencies, receivedUS-update.publishUS)
		if t.sampled {
			t.seen = append(t.seen, seenUpdate{string(update.symbol), update.updateID, receivedUS})
		}
	}
	if counted > 0 {
		t.count += int64(counted)
		// The message's oldest update waited longest for the server to send it.
		t.hops = append(t.hops, message.serverSendUS-message.updates[0].publishUS, receivedUS-message.serverSendUS)
	}
}
