package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// The parent (bench/scenarios/fanout_go.py) and this program exchange one JSON object
// per line, the steps of the Python workers' pipe protocol:
//
//	-> {"ready": true, "errors": E}                  every stream has its snapshot or failed
//	<- {"window": [low, high]}                       update ids to count
//	-> {"window_set": true}
//	<- {"finish": {"expected": X, "settle_s": S}}    the load is written
//	-> result                                        then the program exits

type command struct {
	Window *[2]int64 `json:"window"`
	Finish *struct {
		Expected int64   `json:"expected"`
		SettleS  float64 `json:"settle_s"`
	} `json:"finish"`
}

// result is the last line. Latencies and hops are little-endian int64 bytes, which
// encoding/json writes as base64: at 1,000 streams x 20 s that is ~3 million numbers,
// far quicker to write and read than a JSON array.
type result struct {
	Counts      []int64        `json:"counts"`
	Errors      int            `json:"errors"`
	LatenciesUS []byte         `json:"latencies_us"` // receive_us - publish_us per counted update
	HopsUS      []byte         `json:"hops_us"`      // pairs: publish -> server send, server send -> receive
	Seen        [][]seenUpdate `json:"seen"`         // the sampled streams' counted updates
	CPUS        float64        `json:"cpu_s"`        // this process's CPU until the load was written
}

type lines struct {
	in  *bufio.Scanner
	out *bufio.Writer
}

func newLines(in io.Reader, out io.Writer) *lines {
	return &lines{in: bufio.NewScanner(in), out: bufio.NewWriter(out)}
}

func (l *lines) read() (command, error) {
	var c command
	if !l.in.Scan() {
		if err := l.in.Err(); err != nil {
			return c, err
		}
		return c, io.ErrUnexpectedEOF // the parent went away
	}
	if err := json.Unmarshal(l.in.Bytes(), &c); err != nil {
		return c, fmt.Errorf("bad command %q: %w", l.in.Text(), err)
	}
	return c, nil
}

func (l *lines) write(v any) error {
	encoded, err := json.Marshal(v)
	if err != nil {
		return err
	}
	l.out.Write(encoded)
	l.out.WriteByte('\n')
	return l.out.Flush()
}

// int64Bytes packs values as little-endian int64, what numpy.frombuffer(dtype=int64) reads.
func int64Bytes(values []int64) []byte {
	packed := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(packed[8*i:], uint64(v))
	}
	return packed
}
