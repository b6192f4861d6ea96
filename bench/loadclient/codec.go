package main

import (
	"fmt"

	"google.golang.org/grpc/mem"
)

// rawCodec passes bytes through: the request is already encoded (an empty
// SubscribeRequest is zero bytes) and responses are parsed with protowire, so no
// generated code and no reflection-based decoding on the receive path.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	request, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec marshals *[]byte, got %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(*request)}, nil
}

// Unmarshal copies the message into the caller's buffer, reusing its capacity: gRPC
// frees its own buffers when this returns, and one buffer per stream spares the
// collector a garbage slice per message.
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	into, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec unmarshals into *[]byte, got %T", v)
	}
	buffer := (*into)[:0]
	for _, part := range data {
		buffer = append(buffer, part.ReadOnlyData()...)
	}
	*into = buffer
	return nil
}

// Name is the content-subtype on the wire: the server sees ordinary protobuf.
func (rawCodec) Name() string { return "proto" }
