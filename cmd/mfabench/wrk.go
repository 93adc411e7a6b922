package main

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// run is one wrk run against one site.
type result struct {
	requests   int64
	throughput float64 // requests per second
	p50, p99   time.Duration
	// serverCPU is Caddy's CPU time (user + system) during the run.
	serverCPU time.Duration
	// serverUser is the user-space part of serverCPU: the Go code, without
	// the kernel's share of the system calls.
	serverUser time.Duration
	// serverSyscalls counts Caddy's read and write system calls during the
	// run (from /proc/<pid>/io; 0 when that cannot be read). On a virtual
	// machine they are a large part of the CPU time.
	serverSyscalls float64
	// mallocs and allocBytes are what Caddy's Go heap allocated during the
	// run (its runtime metrics; 0 when they cannot be read).
	mallocs, allocBytes float64
	// clientCPU is wrk's and this process's CPU time during the run: the
	// load generator's side, which must not be the bottleneck.
	clientCPU time.Duration
	elapsed   time.Duration
	// slot is the run's place among all runs of the bench, in the order
	// they ran (0, 1, 2, …): what pairRounds interpolates plain by.
	slot int
}

// cpuPerRequest is Caddy's CPU time per request.
func (r result) cpuPerRequest() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.serverCPU / time.Duration(r.requests)
}

// perRequest divides a total of the run by its requests.
func (r result) perRequest(total float64) float64 {
	if r.requests == 0 {
		return 0
	}
	return total / float64(r.requests)
}

// wrk runs wrk against url with headers while reading the CPU time of the
// process pid.
func wrk(url string, headers []string, o options, d time.Duration, pin bool, caddy *caddyProcess) (result, error) {
	pid := caddy.pid()
	args := []string{"wrk", "-t1", "-c" + strconv.Itoa(o.connections), "-d" + strconv.Itoa(int(d/time.Second)) + "s", "--latency"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	args = append(args, url)
	if pin {
		args = append([]string{"taskset", "-c", strconv.Itoa(o.clientCPU)}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out

	mem0 := caddy.memStats()
	server0, err := processTimes(pid)
	if err != nil {
		return result{}, err
	}
	self0, _ := processCPU(os.Getpid())
	calls0 := processSyscalls(pid)
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("wrk: %v\n%s", err, out.String())
	}
	elapsed := time.Since(start)
	server1, err := processTimes(pid)
	if err != nil {
		return result{}, err
	}
	self1, _ := processCPU(os.Getpid())
	calls1 := processSyscalls(pid)
	mem1 := caddy.memStats()

	r, err := parseWrk(out.String())
	if err != nil {
		return result{}, err
	}
	r.serverUser = server1.user - server0.user
	r.serverCPU = r.serverUser + server1.system - server0.system
	if mem0.ok && mem1.ok {
		r.mallocs, r.allocBytes = mem1.mallocs-mem0.mallocs, mem1.bytes-mem0.bytes
	}
	if calls0 > 0 && calls1 > 0 {
		r.serverSyscalls = float64(calls1 - calls0)
	}
	r.clientCPU = self1 - self0 + cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	r.elapsed = elapsed
	return r, nil
}

// parseWrk reads the totals and the latency distribution of wrk --latency.
// Any non-2xx answer or socket error makes the run invalid.
func parseWrk(out string) (result, error) {
	var r result
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "50%":
			r.p50 = wrkDuration(f[1])
		case len(f) == 2 && f[0] == "99%":
			r.p99 = wrkDuration(f[1])
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			r.requests, _ = strconv.ParseInt(f[0], 10, 64)
		case len(f) == 2 && f[0] == "Requests/sec:":
			r.throughput, _ = strconv.ParseFloat(f[1], 64)
		case strings.HasPrefix(sc.Text(), "  Non-2xx or 3xx responses:"):
			return r, fmt.Errorf("wrk saw error answers (a refused session?):\n%s", out)
		case strings.HasPrefix(strings.TrimSpace(sc.Text()), "Socket errors:"):
			return r, fmt.Errorf("wrk saw socket errors:\n%s", out)
		}
	}
	if r.requests == 0 || r.throughput == 0 || r.p99 == 0 {
		return r, fmt.Errorf("cannot read wrk's output:\n%s", out)
	}
	return r, nil
}

// wrkDuration reads wrk's "812.00us", "1.23ms", "2.01s".
func wrkDuration(s string) time.Duration {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0
			}
			// Rounded: 4.02 ms is 4019999.9999… ns as a float.
			return time.Duration(math.Round(f * float64(u.unit)))
		}
	}
	return 0
}

// clockTicks is the unit of /proc/<pid>/stat's times (USER_HZ), 100 on
// every Linux that Go supports unless the kernel says otherwise.
var clockTicks = func() time.Duration {
	if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return time.Second / time.Duration(n)
		}
	}
	return 10 * time.Millisecond
}()

// processCPU is the user + system CPU time of process pid, all threads.
func processCPU(pid int) (time.Duration, error) {
	t, err := processTimes(pid)
	return t.user + t.system, err
}

// cpuTimes are a process's user and system CPU time.
type cpuTimes struct{ user, system time.Duration }

// processTimes reads the CPU times of process pid, all threads.
func processTimes(pid int) (cpuTimes, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTimes{}, fmt.Errorf("reading CPU time of process %d: %w", pid, err)
	}
	// Fields after "pid (comm) ": state is the 1st, utime the 12th,
	// stime the 13th. comm may hold spaces and parentheses.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return cpuTimes{}, fmt.Errorf("reading CPU time of process %d: short stat line", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return cpuTimes{}, fmt.Errorf("reading CPU time of process %d: bad stat line", pid)
	}
	return cpuTimes{time.Duration(utime) * clockTicks, time.Duration(stime) * clockTicks}, nil
}

// processSyscalls is the number of read and write system calls process
// pid has made (syscr + syscw of /proc/<pid>/io), or 0 if unknown.
func processSyscalls(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0
	}
	var n int64
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if ok && (k == "syscr" || k == "syscw") {
			c, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0
			}
			n += c
		}
	}
	return n
}

// heapCounters are totals of Caddy's Go allocator.
type heapCounters struct {
	mallocs, bytes float64
	ok             bool
}

// memStats reads go_memstats_mallocs_total and go_memstats_alloc_bytes_total
// from Caddy's admin /metrics.
func (c *caddyProcess) memStats() heapCounters {
	resp, err := http.Get("http://" + c.admin + "/metrics")
	if err != nil {
		return heapCounters{}
	}
	defer resp.Body.Close()
	var h heapCounters
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_memstats_mallocs_total":
			h.mallocs, found = v, found+1
		case "go_memstats_alloc_bytes_total":
			h.bytes, found = v, found+1
		}
	}
	h.ok = found == 2 && resp.StatusCode == http.StatusOK
	return h
}
