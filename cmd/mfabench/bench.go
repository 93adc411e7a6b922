package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets of the performance issue, relative to plain reverse_proxy.
const (
	targetThroughput = 0.98
	targetCPU        = 2 * time.Microsecond
	targetP99        = 1.05
)

func run(o options, pinned bool) error {
	dir, err := os.MkdirTemp("", "mfabench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	bin := o.caddyBin
	if bin == "" {
		fmt.Println("building ./cmd/caddy …")
		if bin, err = buildCaddy(dir); err != nil {
			return err
		}
	}
	up, err := serve(upstream(o.bodySize))
	if err != nil {
		return err
	}
	auth, err := serve(authEndpoint())
	if err != nil {
		return err
	}
	var sites [3]site
	for i, name := range []string{"plain", "mfa", "fwd"} {
		port, err := freePort()
		if err != nil {
			return err
		}
		sites[i] = site{name: name, port: port}
	}
	user, err := newBenchUser()
	if err != nil {
		return err
	}
	// The admin endpoint serves Caddy's Go runtime metrics (allocations
	// per request) and, with -pprof, its CPU profile.
	adminPort, err := freePort()
	if err != nil {
		return err
	}
	admin := fmt.Sprintf("127.0.0.1:%d", adminPort)
	caddy, err := startCaddy(bin, dir, benchCaddyfile(o, dir, admin, sites, up, auth, user), sites, pinned, o.serverCPU, callgrindArgs(o))
	if err != nil {
		return err
	}
	defer caddy.stop()
	caddy.admin = admin

	header, err := sessionHeaders(o, sites, user, caddy)
	if err != nil {
		return err
	}
	first, err := header()
	if err != nil {
		return err
	}
	if err := sanityCheck(sites, first, !o.control && !o.aaControl); err != nil {
		return err
	}

	printMachine(o, pinned)
	if o.instructions > 0 {
		return countInstructions(sites, header, o, caddy, dir)
	}
	if o.warmup > 0 {
		fmt.Printf("warming up, %v per site …\n", o.warmup)
		h, err := header()
		if err != nil {
			return err
		}
		for _, s := range sites {
			if _, err := wrk(s.url(), h, o, o.warmup, pinned, caddy); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
		}
	}
	results := map[string][]result{}
	runs := 0
	err = eachRound(o, sites, header, func(round int, s site, h []string) error {
		r, err := wrk(s.url(), h, o, o.duration, pinned, caddy)
		if err != nil {
			return err
		}
		fmt.Printf("round %d %-5s %8.0f req/s  p50 %-9v p99 %-9v  %5.1f µs CPU/req (user %5.1f)  %4.2f syscalls/req  %5.1f allocs/req %6.0f B/req  (client CPU %3.0f%%)\n",
			round, s.name, r.throughput, r.p50, r.p99, micros(r.cpuPerRequest()), micros(time.Duration(r.perRequest(float64(r.serverUser)))), r.perRequest(r.serverSyscalls),
			r.perRequest(r.mallocs), r.perRequest(r.allocBytes),
			100*r.clientCPU.Seconds()/r.elapsed.Seconds())
		r.slot = runs
		runs++
		results[s.name] = append(results[s.name], r)
		return nil
	})
	if err != nil {
		return err
	}
	report(os.Stdout, sites, results, o)
	if o.pprofDir != "" {
		h, err := header()
		if err != nil {
			return err
		}
		return profileSites(sites, h, o, pinned, caddy)
	}
	return nil
}

// benchCaddyfile is the bench's Caddyfile for the options o.
func benchCaddyfile(o options, dir, admin string, sites [3]site, upstream, auth string, user benchUser) string {
	mfaConfig := o.mfaConfig
	if o.control {
		mfaConfig += "\nbypass /*"
	}
	plainConfig := ""
	if o.headersControl {
		plainConfig = identityRequestHeaders(user)
	}
	return caddyfile(dir, admin, o.global, plainConfig, mfaConfig, o.aaControl, sites, upstream, auth, user)
}

// sessionHeaders signs the bench user in to the mfa site and returns what
// makes each round's request headers. Every site gets the same request,
// session included: a browser sends its cookies to the app whatever stands
// in front of it. In the A/A control no site checks sessions, and the
// session is made up, as long as a real one.
func sessionHeaders(o options, sites [3]site, user benchUser, caddy *caddyProcess) (func() ([]string, error), error) {
	if o.aaControl {
		c := credentials{token: madeUpToken(), cookie: madeUpToken()}
		return func() ([]string, error) { return c.headers(o.auth, o.request), nil }, nil
	}
	acct := newAccount(sites[1].url(), user)
	creds, err := acct.enroll()
	if err != nil {
		return nil, fmt.Errorf("signing in to the mfa site: %w (Caddy's log: %s)", err, caddy.log)
	}
	return func() ([]string, error) {
		// A freshly issued token per round: no cookie comes due for
		// renewal while wrk (which keeps no cookies) runs, and no bearer
		// token reaches the idle limit however long the bench runs.
		c, err := acct.renew(creds)
		if err != nil {
			return nil, fmt.Errorf("renewing the session: %w", err)
		}
		creds = c
		return creds.headers(o.auth, o.request), nil
	}, nil
}

// madeUpToken is a string shaped like a session token (three base64url
// parts) and as long as the bench user's (443 characters): the A/A
// control's session, which no site reads.
func madeUpToken() string {
	part := func(n int) string {
		b := make([]byte, n)
		rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return part(27) + "." + part(271) + "." + part(32)
}

// eachRound runs measure on each site of each round, in the order
// roundOrder gives, with the session renewed at the start of every round.
func eachRound(o options, sites [3]site, header func() ([]string, error), measure func(round int, s site, h []string) error) error {
	for round := 1; round <= o.rounds; round++ {
		h, err := header()
		if err != nil {
			return err
		}
		for _, s := range roundOrder(o.order, round, sites) {
			if err := measure(round, s, h); err != nil {
				return fmt.Errorf("%s, round %d: %w", s.name, round, err)
			}
		}
	}
	return nil
}

// roundOrder is the order the sites run in, in a round: plain, mfa, fwd
// every round ("abc"), or with plain and mfa trading places every other
// round ("abc-bac": plain mfa fwd, mfa plain fwd, …), so that neither of
// the two compared sites always runs first.
func roundOrder(order string, round int, sites [3]site) [3]site {
	if order == "abc-bac" && round%2 == 0 {
		return [3]site{sites[1], sites[0], sites[2]}
	}
	return sites
}

// profileSites runs wrk once more per site while Caddy records a CPU
// profile, and saves it as <site>.pprof in o.pprofDir (go tool pprof),
// with Caddy's allocation profile before and after the run as
// <site>.allocs0.pprof and <site>.allocs1.pprof: what one site's requests
// allocated is
//
//	go tool pprof -sample_index alloc_objects -diff_base <site>.allocs0.pprof <site>.allocs1.pprof
func profileSites(sites [3]site, header []string, o options, pinned bool, caddy *caddyProcess) error {
	if err := os.MkdirAll(o.pprofDir, 0o755); err != nil {
		return err
	}
	secs := int(o.duration / time.Second)
	for _, s := range sites {
		allocs := func(n int) error {
			return fetch(fmt.Sprintf("http://%s/debug/pprof/allocs", caddy.admin),
				filepath.Join(o.pprofDir, fmt.Sprintf("%s.allocs%d.pprof", s.name, n)))
		}
		if err := allocs(0); err != nil {
			return fmt.Errorf("profiling %s: %w", s.name, err)
		}
		got := make(chan error, 1)
		path := filepath.Join(o.pprofDir, s.name+".pprof")
		go func() {
			got <- fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", caddy.admin, secs), path)
		}()
		r, err := wrk(s.url(), header, o, o.duration+time.Second, pinned, caddy)
		if err != nil {
			return err
		}
		if err := <-got; err != nil {
			return fmt.Errorf("profiling %s: %w", s.name, err)
		}
		if err := allocs(1); err != nil {
			return fmt.Errorf("profiling %s: %w", s.name, err)
		}
		fmt.Printf("profiles of Caddy serving %s (%d requests): %s, %s.allocs[01].pprof\n",
			s.name, r.requests, path, filepath.Join(o.pprofDir, s.name))
	}
	return nil
}

func fetch(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sanityCheck makes sure each site answers 200 to what wrk will send, and
// (unless this is the bypass control) that the mfa site refuses a
// request without the session.
func sanityCheck(sites [3]site, headers []string, guarded bool) error {
	hc := &http.Client{Timeout: 10 * time.Second}
	get := func(url string, headers []string) (int, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for _, h := range headers {
			if name, value, ok := strings.Cut(h, ": "); ok {
				req.Header.Set(name, value)
			}
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for _, s := range sites {
		if code, err := get(s.url(), headers); err != nil || code != http.StatusOK {
			return fmt.Errorf("site %s (%s) answers %d %v, want 200", s.name, s.url(), code, err)
		}
	}
	if !guarded {
		return nil
	}
	if code, err := get(sites[1].url(), nil); err != nil || code != http.StatusUnauthorized {
		return fmt.Errorf("site mfa without a session answers %d %v, want 401", code, err)
	}
	return nil
}

func printMachine(o options, pinned bool) {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	nproc, _ := exec.Command("nproc", "--all").Output()
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("machine: %s CPUs, %s, %s\n", strings.TrimSpace(string(nproc)), model, runtime.Version())
	fmt.Printf("load average before: %s", load)
	pin := "not pinned"
	if pinned {
		pin = fmt.Sprintf("Caddy on CPU %d; wrk, upstream and auth endpoint on CPU %d", o.serverCPU, o.clientCPU)
	}
	fmt.Printf("wrk -t1 -c%d, %v per site and round, %d rounds, %s request, session as %s; %s\n",
		o.connections, o.duration, o.rounds, o.request, o.auth, pin)
	if o.global != "" {
		fmt.Printf("global options add: %s\n", o.global)
	}
	if o.mfaConfig != "" {
		fmt.Printf("mfa block adds: %s\n", o.mfaConfig)
	}
	if o.control {
		fmt.Println("control run: the mfa site has 'bypass /*'")
	}
	if o.aaControl {
		fmt.Println("control run (A/A): the mfa site is a copy of the plain site")
	}
	if o.order == "abc-bac" {
		fmt.Println("order: plain and mfa trade places every other round (plain mfa fwd, mfa plain fwd, …)")
	}
	if o.headersControl {
		fmt.Println("control run: the plain site sets the mfa site's four identity headers with request_header")
	}
}

// report prints the medians per site and their ratios to plain.
func report(w io.Writer, sites [3]site, results map[string][]result, o options) {
	type summary struct {
		throughput float64
		p50, p99   time.Duration
		cpu        time.Duration
		clientBusy float64
		tmin, tmax float64
		// Counts that do not depend on how busy the machine is.
		syscalls, allocs, bytes float64
	}
	sum := map[string]summary{}
	for _, s := range sites {
		rs := results[s.name]
		var tp []float64
		var p50, p99, cpu []time.Duration
		var busy, calls, allocs, bytes []float64
		for _, r := range rs {
			calls = append(calls, r.perRequest(r.serverSyscalls))
			allocs, bytes = append(allocs, r.perRequest(r.mallocs)), append(bytes, r.perRequest(r.allocBytes))
			tp = append(tp, r.throughput)
			p50, p99, cpu = append(p50, r.p50), append(p99, r.p99), append(cpu, r.cpuPerRequest())
			busy = append(busy, r.clientCPU.Seconds()/r.elapsed.Seconds())
		}
		sum[s.name] = summary{
			throughput: median(tp), p50: median(p50), p99: median(p99), cpu: median(cpu),
			clientBusy: median(busy), tmin: slices.Min(tp), tmax: slices.Max(tp),
			syscalls: median(calls), allocs: median(allocs), bytes: median(bytes),
		}
	}
	plain := sum["plain"]
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "\nload average after: %s", load)
	fmt.Fprintf(w, "medians of %d rounds:\n\n", o.rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "site\treq/s\t(min–max)\tp50\tp99\tCPU µs/req\t× req/s\t× p99\t+CPU µs\tsyscalls/req\tallocs/req\tB/req\t")
	for _, s := range sites {
		m := sum[s.name]
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f–%.0f\t%v\t%v\t%.1f\t%.3f\t%.3f\t%+.1f\t%.2f\t%.1f\t%.0f\t\n",
			s.name, m.throughput, m.tmin, m.tmax, m.p50.Round(time.Microsecond), m.p99.Round(time.Microsecond), micros(m.cpu),
			m.throughput/plain.throughput, float64(m.p99)/float64(plain.p99), micros(m.cpu-plain.cpu),
			m.syscalls, m.allocs, m.bytes)
	}
	tw.Flush()

	// Each site against plain at the same moment: the plain runs before
	// and after it, weighted by how close each is in time (in P M F P, M
	// is a third of the way from one plain run to the next, F two
	// thirds). A slow spell of the machine that spans the runs weighs on
	// both sides of the ratio, and a steady drift cancels out.
	paired := map[string]pairedSummary{}
	fmt.Fprintf(w, "\nround by round, against plain at the same moment: median (95 %% CI of the median)\n")
	for _, s := range sites[1:] {
		ps := pairRounds(results["plain"], results[s.name])
		paired[s.name] = ps
		fmt.Fprintf(w, "  %-5s × req/s %s   CPU/req %s   × p99 %s\n", s.name, ps.throughput, ps.cpu, ps.p99)
	}

	mfa, mp := sum["mfa"], paired["mfa"]
	fmt.Fprintln(w)
	// In a control run the mfa site is not the gateway as configured, so
	// its lines are held to the targets' bounds but are not the targets.
	label := "target"
	if o.isControl() {
		label = "control"
		fmt.Fprintln(w, "a control run: the lines below hold the control site to the targets' bounds; they are not a measure of the targets")
	}
	check := func(what string, ok bool, got, want string) {
		verdict := "met"
		if !ok {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "%s %-28s %-7s (%s; target %s)\n", label, what, verdict, got, want)
	}
	fmt.Fprintln(w, "against the medians of the rounds:")
	check("mfa throughput vs plain", mfa.throughput/plain.throughput >= targetThroughput,
		fmt.Sprintf("%.3f×", mfa.throughput/plain.throughput), fmt.Sprintf("≥ %.2f×", targetThroughput))
	check("mfa server CPU per request", mfa.cpu-plain.cpu <= targetCPU,
		fmt.Sprintf("%+.1f µs", micros(mfa.cpu-plain.cpu)), fmt.Sprintf("≤ +%.0f µs", micros(targetCPU)))
	check("mfa p99 vs plain", float64(mfa.p99)/float64(plain.p99) <= targetP99,
		fmt.Sprintf("%.3f×", float64(mfa.p99)/float64(plain.p99)), fmt.Sprintf("≤ %.2f×", targetP99))
	fmt.Fprintln(w, "round by round (met: the whole 95 % CI meets it; missed: none of it does):")
	settle := func(what string, e estimate, meets func(float64) bool, want string) {
		verdict := "unsettled"
		switch {
		case !e.ok:
			verdict = "too few rounds"
		case meets(e.lo) && meets(e.hi):
			verdict = "met"
		case !meets(e.lo) && !meets(e.hi):
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "%s %-28s %-9s (%s; target %s)\n", label, what, verdict, e, want)
	}
	settle("mfa throughput vs plain", mp.throughput, func(x float64) bool { return x >= targetThroughput },
		fmt.Sprintf("≥ %.2f×", targetThroughput))
	settle("mfa server CPU per request", mp.cpu, func(x float64) bool { return x <= micros(targetCPU) },
		fmt.Sprintf("≤ +%.0f µs", micros(targetCPU)))
	settle("mfa p99 vs plain", mp.p99, func(x float64) bool { return x <= targetP99 },
		fmt.Sprintf("≤ %.2f×", targetP99))
	for _, s := range sites {
		if b := sum[s.name].clientBusy; b > 0.9 {
			fmt.Fprintf(w, "warning: the client CPU was %.0f%% busy during %s: the load generator may be the bottleneck\n", 100*b, s.name)
		}
	}
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func median[T float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
