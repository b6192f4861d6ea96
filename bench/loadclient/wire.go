package main

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// MarketUpdate.Kind values (proto/quantcore/v1/market_data.proto).
const (
	kindSnapshot = 1
	kindUpdate   = 2
)

// Field numbers of the few fields the load client reads (market_data.proto).
const (
	marketUpdateKind         = 1
	marketUpdateUpdates      = 2
	marketUpdateServerSendUS = 3
	signalUpdateSymbol       = 1
	signalUpdateID           = 2
	signalUpdateTimes        = 6
	pipelineTimesPublishUS   = 5
)

// signalUpdate holds what fan-out latency needs of one SignalUpdate.
type signalUpdate struct {
	symbol    []byte // a view into the message's bytes: valid until its buffer is reused
	updateID  int64
	publishUS int64
}

// marketUpdate is one parsed MarketUpdate; parsing into the same value again reuses
// its updates slice.
type marketUpdate struct {
	kind         int64
	serverSendUS int64
	updates      []signalUpdate
}

// parseMarketUpdate reads a MarketUpdate's kind, server_send_us and each update's
// symbol, update_id and times.publish_us; every other field is skipped.
func parseMarketUpdate(message []byte, into *marketUpdate) error {
	*into = marketUpdate{updates: into.updates[:0]}
	return eachField(message, func(number protowire.Number, kind protowire.Type, value []byte) (int, error) {
		switch {
		case number == marketUpdateKind && kind == protowire.VarintType:
			return consumeInt64(value, &into.kind)
		case number == marketUpdateServerSendUS && kind == protowire.VarintType:
			return consumeInt64(value, &into.serverSendUS)
		case number == marketUpdateUpdates && kind == protowire.BytesType:
			body, n := protowire.ConsumeBytes(value)
			if n < 0 {
				return n, nil
			}
			var update signalUpdate
			if err := parseSignalUpdate(body, &update); err != nil {
				return 0, err
			}
			into.updates = append(into.updates, update)
			return n, nil
		}
		return protowire.ConsumeFieldValue(number, kind, value), nil
	})
}

func parseSignalUpdate(message []byte, into *signalUpdate) error {
	return eachField(message, func(number protowire.Number, kind protowire.Type, value []byte) (int, error) {
		switch {
		case number == signalUpdateSymbol && kind == protowire.BytesType:
			symbol, n := protowire.ConsumeBytes(value)
			into.symbol = symbol
			return n, nil
		case number == signalUpdateID && kind == protowire.VarintType:
			return consumeInt64(value, &into.updateID)
		case number == signalUpdateTimes && kind == protowire.BytesType:
			times, n := protowire.ConsumeBytes(value)
			if n < 0 {
				return n, nil
			}
			return n, eachField(times, func(number protowire.Number, kind protowire.Type, value []byte) (int, error) {
				if number == pipelineTimesPublishUS && kind == protowire.VarintType {
					return consumeInt64(value, &into.publishUS)
				}
				return protowire.ConsumeFieldValue(number, kind, value), nil
			})
		}
		return protowire.ConsumeFieldValue(number, kind, value), nil
	})
}

// consumeInt64 reads one varint field value (an int64 or enum) into `into`; returns its length.
func consumeInt64(value []byte, into *int64) (int, error) {
	v, n := protowire.ConsumeVarint(value)
	*into = int64(v)
	return n, nil
}

// eachField walks a message's fields: field consumes one value and returns its length
// (negative: protowire's error code for malformed bytes).
func eachField(message []byte, field func(protowire.Number, protowire.Type, []byte) (int, error)) error {
	for len(message) > 0 {
		number, kind, n := protowire.ConsumeTag(message)
		if n < 0 {
			return fmt.Errorf("malformed tag: %w", protowire.ParseError(n))
		}
		message = message[n:]
		n, err := field(number, kind, message)
		if err != nil {
			return err
		}
		if n < 0 {
			return fmt.Errorf("malformed field %d: %w", number, protowire.ParseError(n))
		}
		message = message[n:]
	}
	return nil
}
