// qc-subscribers: the fan-out benchmark's subscribers (bench/scenarios/fanout.py).
//
// N Subscribe streams to every symbol, stamped on receipt and counted in Go, so the
// benchmark's clients take a fraction of the CPU of grpc.aio (~55 µs a message) and
// leave the 2 cores to the server under test. Driven over stdin/stdout (protocol.go).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"
)

const maxReceiveBytes = 64 << 20

func main() {
	address := flag.String("address", "", "the gRPC server, host:port")
	count := flag.Int("streams", 1, "Subscribe streams to open")
	perConnection := flag.Int("per-connection", 100, "streams multiplexed on one HTTP/2 connection")
	sampled := flag.Int("sampled", 5, "streams that report every counted (symbol, update id, receive time)")
	procs := flag.Int("procs", 0, "GOMAXPROCS (0: Go's default, every core)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	flag.Parse()
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	if *cpuProfile != "" {
		stop, err := profileCPU(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "qc-subscribers:", err)
			os.Exit(1)
		}
		defer stop()
	}
	if err := run(*address, *count, *perConnection, *sampled); err != nil {
		fmt.Fprintln(os.Stderr, "qc-subscribers:", err)
		os.Exit(1)
	}
}

func profileCPU(path string) (stop func(), err error) {
	file, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(file); err != nil {
		file.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); file.Close() }, nil
}

func run(address string, count, perConnection, sampled int) error {
	if address == "" || count < 1 || perConnection < 1 {
		return fmt.Errorf("need -address, -streams >= 1 and -per-connection >= 1")
	}
	subs, err := openSubscribers(address, count, perConnection, sampled)
	if err != nil {
		return err
	}
	defer subs.close()
	parent := newLines(os.Stdin, os.Stdout)
	if err := parent.write(map[string]any{"ready": true, "errors": subs.waitReady()}); err != nil {
		return err
	}
	c, err := parent.read()
	if err != nil || c.Window == nil {
		return fmt.Errorf("expected a window: %v", err)
	}
	subs.window.Store(&window{low: c.Window[0], high: c.Window[1]})
	if err := parent.write(map[string]any{"window_set": true}); err != nil {
		return err
	}
	if c, err = parent.read(); err != nil || c.Finish == nil {
		return fmt.Errorf("expected finish: %v", err)
	}
	cpu := cpuSeconds() // what receiving the load cost, before the settling and the result
	subs.waitCounted(c.Finish.Expected, time.Now().Add(time.Duration(c.Finish.SettleS*float64(time.Second))))
	subs.close()
	return parent.write(collect(subs, cpu))
}

func collect(subs *subscribers, cpu float64) result {
	r := result{Errors: subs.failures(), CPUS: cpu, Seen: [][]seenUpdate{}}
	var latencies, hops []int64
	for _, s := range subs.streams {
		r.Counts = append(r.Counts, s.tally.count)
		latencies = append(latencies, s.tally.latencies...)
		hops = append(hops, s.tally.hops...)
		if s.tally.sampled {
			r.Seen = append(r.Seen, append([]seenUpdate{}, s.tally.seen...))
		}
	}
	r.LatenciesUS, r.HopsUS = int64Bytes(latencies), int64Bytes(hops)
	return r
}

// cpuSeconds is this process's user + system CPU so far (every thread).
func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	seconds := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return seconds(usage.Utime) + seconds(usage.Stime)
}
