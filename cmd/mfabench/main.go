// Command mfabench measures what the mfa handler costs a proxied request,
// end to end: one Caddy (./cmd/caddy) serves three sites in front of the
// same upstream,
//
//	plain  reverse_proxy
//	mfa    mfa (with a valid session) + reverse_proxy
//	fwd    forward_auth to a minimal in-process endpoint + reverse_proxy
//
// The user has an email, a name and groups, so mfa sends its four default
// identity headers, and forward_auth copies the same four from the
// endpoint's answer.
//
// and wrk drives them in turn (plain mfa fwd plain mfa fwd …) with the same
// concurrency and duration. Caddy is pinned to one CPU and wrk (with this
// process, which serves the upstream and the auth endpoint) to another
// when taskset is there. It prints, per site, the medians over the rounds
// of throughput, p50 and p99 latency, and Caddy's CPU time per request
// (from /proc/<pid>/stat), with the ratios to plain; then each site
// against plain at the same moment, round by round, with a 95 %
// confidence interval. Each run also shows counts that do not depend on
// how busy the machine is: Caddy's system calls (/proc/<pid>/io) and Go
// allocations (its admin /metrics) per request.
//
//	go run ./cmd/mfabench [-rounds 5] [-duration 10s] [-connections 32] [-auth cookie|bearer] [-request browser|chrome|minimal] [-global LINES]
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

type options struct {
	rounds      int
	duration    time.Duration
	warmup      time.Duration
	connections int
	auth        string
	caddyBin    string
	bodySize    int
	serverCPU   int
	clientCPU   int
	pprofDir    string
	request     string
	mfaConfig   string
	global      string
	control     bool
	// aaControl makes the mfa site a copy of the plain one.
	aaControl bool
	// order is the order of the sites in a round (see roundOrder).
	order string
	// headersControl makes the plain site send the mfa site's four
	// identity headers upstream too, set by Caddy's request_header.
	headersControl bool
	// instructions, when set, replaces the wrk rounds: Caddy runs under
	// callgrind and each round sends this many requests to each site.
	instructions int
	// cacheSim adds callgrind's cache simulation to the instruction
	// count: misses per request and an estimate of cycles.
	cacheSim bool
	// branchSim adds callgrind's simulation of branch prediction.
	branchSim bool
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of plain, mfa, fwd (at least 5 for a report)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "wrk run per site and round")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "unmeasured wrk run per site before the rounds")
	flag.IntVar(&o.connections, "connections", 32, "wrk connections")
	flag.StringVar(&o.auth, "auth", "cookie", "how the mfa site's session is sent: cookie or bearer")
	flag.StringVar(&o.caddyBin, "caddy", "", "Caddy binary with the plugin (default: build ./cmd/caddy)")
	flag.IntVar(&o.bodySize, "body", 1024, "bytes of the upstream's answer")
	flag.IntVar(&o.serverCPU, "server-cpu", 0, "CPU that Caddy is pinned to")
	flag.IntVar(&o.clientCPU, "client-cpu", 1, "CPU that wrk, the upstream and the auth endpoint are pinned to")
	flag.StringVar(&o.request, "request", "browser", "what wrk sends: browser (Firefox's eight headers with a few app cookies), chrome (Chromium's fifteen) or minimal (the session only)")
	flag.StringVar(&o.mfaConfig, "mfa-config", "", "more lines for the mfa block, e.g. 'headers { email - }'")
	flag.StringVar(&o.global, "global", "", "more lines for Caddy's global options, the same for all three sites, e.g. 'log default { exclude http.handlers.reverse_proxy }'")
	flag.BoolVar(&o.control, "bypass-control", false, "control run: the mfa site gets 'bypass /*', so its handler only strips client identity headers and passes every request on")
	flag.BoolVar(&o.aaControl, "aa-control", false, "control run (A/A): the mfa site is a copy of the plain site, with no mfa handler and a made-up session, so what tells it from plain is the bench itself: its place in the round, and noise")
	flag.StringVar(&o.order, "order", "abc", "order of the sites in a round: abc (plain, mfa, fwd every round) or abc-bac (plain and mfa trade places every other round, so neither always runs first; use an even -rounds)")
	flag.BoolVar(&o.headersControl, "headers-control", false, "control run: the plain site sets the four identity headers the mfa site sends (Caddy's request_header), so both send the upstream the same request and the difference is the handler's own cost less that of four request_header handlers")
	flag.IntVar(&o.instructions, "instructions", 0, "instead of wrk rounds, run Caddy under Valgrind's callgrind and count the instructions it executes per request, over this many requests per site and round (needs the Debian package valgrind)")
	flag.BoolVar(&o.branchSim, "branch-sim", false, "with -instructions: also simulate branch prediction (callgrind --branch-sim=yes) and report branches and mispredicts per request")
	flag.BoolVar(&o.cacheSim, "cache-sim", false, "with -instructions: also simulate the CPU caches (callgrind --cache-sim=yes) and report misses per request and an estimate of cycles")
	flag.StringVar(&o.pprofDir, "pprof", "", "after the rounds, save a CPU profile of Caddy serving each site in this directory")
	flag.Parse()
	if err := o.check(); err != nil {
		fail("%v", err)
	}
	if o.instructions > 0 {
		for _, tool := range []string{"valgrind", "callgrind_control"} {
			if _, err := exec.LookPath(tool); err != nil {
				fail("-instructions needs %s: install the Debian package valgrind (apt-get install valgrind)", tool)
			}
		}
	} else if _, err := exec.LookPath("wrk"); err != nil {
		fail("wrk is not installed: it is the load generator. Install the Debian package wrk (apt-get install wrk)")
	}
	pinned := pinSelf(o)
	if err := run(o, pinned); err != nil {
		fail("%v", err)
	}
}

// isControl tells whether the mfa site is a control (bypass, A/A or plain
// with the same headers) rather than the gateway as configured.
func (o options) isControl() bool { return o.control || o.aaControl || o.headersControl }

// check refuses option values and combinations the bench cannot run,
// naming the flag.
func (o options) check() error {
	if o.auth != "cookie" && o.auth != "bearer" {
		return fmt.Errorf("-auth must be cookie or bearer, got %q", o.auth)
	}
	if o.request != "browser" && o.request != "chrome" && o.request != "minimal" {
		return fmt.Errorf("-request must be browser, chrome or minimal, got %q", o.request)
	}
	if o.order != "abc" && o.order != "abc-bac" {
		return fmt.Errorf("-order must be abc or abc-bac, got %q", o.order)
	}
	if o.aaControl && (o.control || o.headersControl || o.mfaConfig != "") {
		return errors.New("-aa-control has no mfa site: it cannot be combined with -bypass-control, -headers-control or -mfa-config")
	}
	if o.rounds < 1 || o.duration < time.Second || o.connections < 1 {
		return errors.New("-rounds, -duration (≥ 1s) and -connections must be positive")
	}
	if o.auth == "cookie" && 3*o.duration > 50*time.Second {
		// One session serves a round of three sites; a cookie older than
		// a minute is re-signed on every request of wrk, which never
		// stores the new one.
		return errors.New("-auth cookie needs -duration ≤ 16s (the session cookie would come due for renewal); use -auth bearer")
	}
	if o.cacheSim && o.instructions == 0 {
		return errors.New("-cache-sim needs -instructions N")
	}
	if o.branchSim && o.instructions == 0 {
		return errors.New("-branch-sim needs -instructions N")
	}
	return nil
}

// pinSelf re-executes this program on the client CPU under taskset (once),
// so that the upstream and the auth endpoint it serves stay off Caddy's
// CPU. It reports whether pinning is in effect.
func pinSelf(o options) bool {
	if os.Getenv("MFABENCH_PINNED") != "" {
		return true
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil || runtime.NumCPU() < 2 {
		fmt.Fprintln(os.Stderr, "mfabench: no taskset (util-linux) or a single CPU: nothing is pinned, results are noisier")
		return false
	}
	self, err := os.Executable()
	if err != nil {
		fail("finding this program: %v", err)
	}
	args := append([]string{"taskset", "-c", strconv.Itoa(o.clientCPU), self}, os.Args[1:]...)
	err = syscall.Exec(taskset, args, append(os.Environ(), "MFABENCH_PINNED=1"))
	fail("re-running under taskset: %v", err)
	return false
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mfabench: "+format+"\n", args...)
	os.Exit(1)
}
