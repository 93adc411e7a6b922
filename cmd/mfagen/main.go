// Command mfagen measures how a store grows: it fills an embedded (bbolt)
// or Redis store with enrolled users (a TOTP factor and ten recovery codes
// each) and one active session per user, in steps (10k, 100k, 1M by
// default), and at each step prints the memory the store takes (the bbolt
// file's size; Redis's INFO memory) and the latency of the store
// operations a sign-in makes and of loading the revocations (what every
// Caddy does at start and after a lost Redis connection).
//
// Everything goes through the store API, as the gateway writes it. bbolt
// has no bulk call, but its Batch coalesces concurrent writers into one
// transaction (one fsync): many concurrent writers make large
// transactions.
//
//	go run ./cmd/mfagen -store bolt  [-sizes 10000,100000,1000000]
//	go run ./cmd/mfagen -store redis [-redis 127.0.0.1:6379]   (default: a private redis-server)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

type options struct {
	store      string
	sizes      []int
	dir        string
	redisAddr  string
	workers    int
	samples    int
	revokedPct float64
	maxFill    time.Duration
}

func main() {
	var o options
	var sizes string
	flag.StringVar(&o.store, "store", "bolt", "bolt or redis")
	flag.StringVar(&sizes, "sizes", "10000,100000,1000000", "user counts to measure at, ascending")
	flag.StringVar(&o.dir, "dir", "", "directory for the bbolt file or the private redis-server (default: a temporary one, removed after)")
	flag.StringVar(&o.redisAddr, "redis", "", "an existing Redis host:port to fill (it gets a fresh key prefix); default: start a private redis-server")
	flag.IntVar(&o.workers, "workers", 0, "concurrent writers while filling (default 512 for bolt, 64 for redis)")
	flag.IntVar(&o.samples, "samples", 2000, "operations timed per kind and size")
	flag.Float64Var(&o.revokedPct, "revoked", 1, "percent of sessions revoked (logouts) while filling")
	flag.DurationVar(&o.maxFill, "max-fill", 30*time.Minute, "give up filling a step after this long and report the sizes reached")
	flag.Parse()
	for f := range strings.SplitSeq(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 || len(o.sizes) > 0 && n <= o.sizes[len(o.sizes)-1] {
			fail("-sizes must be ascending positive numbers, got %q", sizes)
		}
		o.sizes = append(o.sizes, n)
	}
	if o.workers == 0 {
		o.workers = 512
		if o.store == "redis" {
			o.workers = 64
		}
	}
	if err := run(o); err != nil {
		fail("%v", err)
	}
}

func run(o options) error {
	ctx := context.Background()
	if o.dir == "" {
		dir, err := os.MkdirTemp("", "mfagen-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.dir = dir
	}
	target, err := openTarget(ctx, o)
	if err != nil {
		return err
	}
	defer target.close()

	fmt.Printf("store %s, %d CPUs, %s; filling with %d writers; %d samples per operation\n",
		target.name(), runtime.NumCPU(), runtime.Version(), o.workers, o.samples)
	g, err := newGenerator(target.store, o)
	if err != nil {
		return err
	}
	var rows []row
	for _, size := range o.sizes {
		start := time.Now()
		reached, err := g.fillTo(ctx, size, o.maxFill)
		if err != nil {
			return err
		}
		fill := time.Since(start)
		fmt.Printf("\n%d users (%d new in %v, %.0f users/s)\n", reached, reached-rowsUsers(rows), fill.Round(time.Second),
			float64(reached-rowsUsers(rows))/fill.Seconds())
		r := row{users: reached, fill: fill}
		if r.memory, err = target.memory(ctx); err != nil {
			return err
		}
		if r.ops, err = g.measure(ctx); err != nil {
			return err
		}
		printRow(r)
		rows = append(rows, r)
		if reached < size {
			fmt.Printf("stopped filling at %d users after -max-fill %v\n", reached, o.maxFill)
			break
		}
	}
	printTable(rows)
	return nil
}

func rowsUsers(rows []row) int {
	if len(rows) == 0 {
		return 0
	}
	return rows[len(rows)-1].users
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mfagen: "+format+"\n", args...)
	os.Exit(1)
}
