package main

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const subscribeMethod = "/quantcore.v1.MarketData/Subscribe"

var subscribeDesc = grpc.StreamDesc{StreamName: "Subscribe", ServerStreams: true}

// pendingMessage is a message received before the parent set the window: kept as
// bytes until the window says which of its updates count.
type pendingMessage struct {
	receivedUS int64
	raw        []byte
}

// stream is one Subscribe call to every symbol and what it received.
type stream struct {
	snapshot atomic.Bool  // a SNAPSHOT arrived: the stream is open and subscribed
	failed   atomic.Bool  // ended with an error other than our cancellation
	counted  atomic.Int64 // tally.count, readable while the stream runs
	tally    tally        // owned by the receive goroutine until it returns
	pending  []pendingMessage
}

// receive runs the call until ctx is cancelled. Each message is stamped first, then
// parsed and counted here: a few µs of Go per message, so no second pass after the load.
func (s *stream) receive(ctx context.Context, conn *grpc.ClientConn, shared *atomic.Pointer[window]) {
	call, err := conn.NewStream(ctx, &subscribeDesc, subscribeMethod)
	if err == nil {
		err = call.SendMsg(&[]byte{}) // an empty SubscribeRequest: every symbol
	}
	if err == nil {
		err = call.CloseSend()
	}
	var raw []byte
	var message marketUpdate
	for err == nil {
		if err = call.RecvMsg(&raw); err != nil {
			break
		}
		receivedUS := time.Now().UnixMicro()
		if err = parseMarketUpdate(raw, &message); err != nil {
			break
		}
		if message.kind == kindSnapshot {
			s.snapshot.Store(true)
		}
		w := shared.Load()
		if w == nil {
			s.pending = append(s.pending, pendingMessage{receivedUS, append([]byte(nil), raw...)})
			continue
		}
		s.countPending(*w)
		s.tally.add(&message, receivedUS, *w)
		s.counted.Store(s.tally.count)
	}
	if !errors.Is(err, io.EOF) && status.Code(err) != codes.Canceled {
		s.failed.Store(true)
	}
}

// countPending counts the messages that arrived before the window was known.
func (s *stream) countPending(w window) {
	var message marketUpdate
	for _, pending := range s.pending {
		if parseMarketUpdate(pending.raw, &message) == nil {
			s.tally.add(&message, pending.receivedUS, w)
		}
	}
	s.pending = nil
	s.counted.Store(s.tally.count)
}

// subscribers are the N streams, perConnection of them multiplexed on each HTTP/2
// connection, like the Python workers' channels.
type subscribers struct {
	streams     []*stream
	connections []*grpc.ClientConn
	window      atomic.Pointer[window]
	cancel      context.CancelFunc
	running     sync.WaitGroup
	closing     sync.Once
}

func openSubscribers(address string, count, perConnection, sampled int) (*subscribers, error) {
	ctx, cancel := context.WithCancel(context.Background())
	subs := &subscribers{cancel: cancel}
	options := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{}), grpc.MaxCallRecvMsgSize(maxReceiveBytes)),
	}
	for i := 0; i < count; i++ {
		if i%perConnection == 0 {
			// A ClientConn per group: each is its own HTTP/2 connection to the server.
			conn, err := grpc.NewClient(address, options...)
			if err != nil {
				subs.close()
				return nil, err
			}
			subs.connections = append(subs.connections, conn)
		}
		s := &stream{tally: tally{sampled: i < sampled}}
		subs.streams = append(subs.streams, s)
		subs.running.Add(1)
		go func(conn *grpc.ClientConn) {
			defer subs.running.Done()
			s.receive(ctx, conn, &subs.window)
		}(subs.connections[len(subs.connections)-1])
	}
	return subs, nil
}

// waitReady returns the number of failed streams once every stream has its snapshot or failed.
func (subs *subscribers) waitReady() int {
	for {
		ready, failed := 0, 0
		for _, s := range subs.streams {
			if s.failed.Load() {
				failed++
			} else if s.snapshot.Load() {
				ready++
			}
		}
		if ready+failed == len(subs.streams) {
			return failed
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCounted waits until every stream counted `expected` updates (or failed) or the deadline passed.
func (subs *subscribers) waitCounted(expected int64, deadline time.Time) {
	for time.Now().Before(deadline) {
		done := 0
		for _, s := range subs.streams {
			if s.failed.Load() || s.counted.Load() >= expected {
				done++
			}
		}
		if done == len(subs.streams) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// close (once) cancels every stream, waits for their goroutines and counts what arrived
// before the window and was never followed by another message.
func (subs *subscribers) close() {
	subs.closing.Do(func() {
		subs.cancel()
		subs.running.Wait()
		for _, conn := range subs.connections {
			conn.Close()
		}
		if w := subs.window.Load(); w != nil {
			for _, s := range subs.streams {
				s.countPending(*w)
			}
		}
	})
}

func (subs *subscribers) failures() int {
	failed := 0
	for _, s := range subs.streams {
		if s.failed.Load() {
			failed++
		}
	}
	return failed
}
