package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// countInstructions is the -instructions mode. Caddy runs under Valgrind's
// callgrind, which counts every instruction it executes (all its threads,
// the collector's included). Each round sends o.instructions requests to
// each site, one at a time on one connection, and reads what Caddy
// executed for them. The count hardly moves with how busy the machine is,
// so it settles differences of a few per cent that CPU time on a noisy box
// cannot; it does not see cache misses or system call time, so it is a
// complement to the wrk rounds, not a replacement.
func countInstructions(sites [3]site, header func() ([]string, error), o options, caddy *caddyProcess, dir string) error {
	pid := strconv.Itoa(caddy.cmd.Process.Pid)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	fmt.Printf("instructions: Caddy under callgrind, %d requests per site and round, one at a time\n", o.instructions)
	metrics := []metric{instructionsMetric}
	if o.cacheSim {
		metrics = append(metrics, cacheMetrics...)
		fmt.Println("with simulated caches: L1 misses (instruction, data), last-level misses, cycles estimated as instructions + 10 × L1 misses + 100 × last-level misses")
	}
	if o.branchSim {
		metrics = append(metrics, branchMetrics...)
		fmt.Println("with simulated branch prediction: mispredicted conditional and indirect branches")
	}
	// counts[site][metric] holds one figure per round, per request.
	counts := map[string]map[string][]float64{}
	err := eachRound(o, sites, header, func(round int, s site, h []string) error {
		// One request first, uncounted: the connection is open and the
		// session cached before the count starts.
		if err := sendRequests(client, s.url(), h, 1); err != nil {
			return err
		}
		if err := callgrindControl("-z", pid); err != nil {
			return err
		}
		if err := sendRequests(client, s.url(), h, o.instructions); err != nil {
			return err
		}
		events, dump, err := dumpCounts(pid, dir)
		if err != nil {
			return err
		}
		if o.pprofDir != "" && round == o.rounds {
			if err := keepDump(dump, filepath.Join(o.pprofDir, s.name+".callgrind")); err != nil {
				return err
			}
		}
		if counts[s.name] == nil {
			counts[s.name] = map[string][]float64{}
		}
		line := fmt.Sprintf("round %d %-5s", round, s.name)
		for _, m := range metrics {
			per, err := m.perRequest(events, o.instructions)
			if err != nil {
				return err
			}
			counts[s.name][m.name] = append(counts[s.name][m.name], per)
			line += fmt.Sprintf("  %.0f %s", per, m.name)
		}
		fmt.Println(line + " per request")
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("\nmedians of %d rounds, and against plain round by round (median, 95 %% CI), per request:\n", o.rounds)
	for _, m := range metrics {
		plain := counts[sites[0].name][m.name]
		for _, s := range sites {
			diff := make([]float64, len(plain))
			for i, p := range plain {
				diff[i] = counts[s.name][m.name][i] - p
			}
			fmt.Printf("  %-5s %9.0f %-13s %s\n", s.name, medianCI(counts[s.name][m.name], "%.0f").median, m.name, medianCI(diff, "%+.0f"))
		}
	}
	if o.pprofDir != "" {
		fmt.Printf("callgrind counts of each site's last round: %s/<site>.callgrind (callgrind_annotate --inclusive=yes)\n", o.pprofDir)
	}
	return nil
}

// callgrindArgs are the options Caddy runs under callgrind with; nil when
// it runs on its own.
func callgrindArgs(o options) []string {
	if o.instructions == 0 {
		return nil
	}
	args := []string{}
	if o.cacheSim {
		args = append(args, "--cache-sim=yes")
	}
	if o.branchSim {
		args = append(args, "--branch-sim=yes")
	}
	return args
}

// A metric is a weighted sum of callgrind's event counts. Its events: Ir
// instructions; I1mr, D1mr, D1mw first-level misses (instruction read,
// data read and write); ILmr, DLmr, DLmw last-level misses; Bcm, Bim
// mispredicted conditional and indirect branches. flag is the mfabench
// option that makes callgrind count them.
type metric struct {
	name  string
	terms []term
	flag  string
}

type term struct {
	event  string
	weight int64
}

var instructionsMetric = metric{"instructions", []term{{"Ir", 1}}, "-instructions"}

// cacheMetrics are what -cache-sim adds to the instruction count. The
// estimate of cycles weighs the events as KCachegrind's "cycle
// estimation" does without branch simulation.
var cacheMetrics = []metric{
	{"L1i misses", []term{{"I1mr", 1}}, "-cache-sim"},
	{"L1d misses", []term{{"D1mr", 1}, {"D1mw", 1}}, "-cache-sim"},
	{"LL misses", []term{{"ILmr", 1}, {"DLmr", 1}, {"DLmw", 1}}, "-cache-sim"},
	{"est. cycles", []term{{"Ir", 1}, {"I1mr", 10}, {"D1mr", 10}, {"D1mw", 10}, {"ILmr", 100}, {"DLmr", 100}, {"DLmw", 100}}, "-cache-sim"},
}

// branchMetrics are what -branch-sim adds: callgrind's simulation of a
// simple branch predictor, which a real CPU's beats; read the difference
// between sites, not the absolute count.
var branchMetrics = []metric{
	{"branches", []term{{"Bc", 1}, {"Bi", 1}}, "-branch-sim"},
	{"mispredicts", []term{{"Bcm", 1}, {"Bim", 1}}, "-branch-sim"},
}

// perRequest is m over a dump's event totals, per request.
func (m metric) perRequest(events map[string]int64, requests int) (float64, error) {
	var sum int64
	for _, t := range m.terms {
		v, ok := events[t.event]
		if !ok {
			return 0, fmt.Errorf("callgrind's dump has no %s count for %s (run with %s)", t.event, m.name, m.flag)
		}
		sum += t.weight * v
	}
	return float64(sum) / float64(requests), nil
}

func keepDump(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}

// sendRequests sends n GETs with header lines h and wants 200 for each.
func sendRequests(client *http.Client, url string, h []string, n int) error {
	for range n {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		for _, line := range h {
			name, value, _ := strings.Cut(line, ": ")
			req.Header.Set(name, value)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("answered %s", resp.Status)
		}
	}
	return nil
}

func callgrindControl(arg, pid string) error {
	out, err := exec.Command("callgrind_control", arg, pid).CombinedOutput()
	if err != nil {
		return fmt.Errorf("callgrind_control %s: %v: %s", arg, err, out)
	}
	return nil
}

// dumpCounts has callgrind write its counts since the last zeroing and
// returns their totals by event and the file they are in.
func dumpCounts(pid, dir string) (map[string]int64, string, error) {
	before, _ := filepath.Glob(filepath.Join(dir, "callgrind."+pid+".*"))
	if err := callgrindControl("-d", pid); err != nil {
		return nil, "", err
	}
	after, _ := filepath.Glob(filepath.Join(dir, "callgrind."+pid+".*"))
	if len(after) != len(before)+1 {
		return nil, "", fmt.Errorf("callgrind wrote %d dumps, want 1", len(after)-len(before))
	}
	newest, n := "", -1
	for _, f := range after {
		if k, err := strconv.Atoi(f[strings.LastIndexByte(f, '.')+1:]); err == nil && k > n {
			newest, n = f, k
		}
	}
	events, err := readSummary(newest)
	return events, newest, err
}

// readSummary returns the totals a callgrind dump gives on its summary
// line, by the event names of its events line.
func readSummary(path string) (map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var names []string
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "events:"); ok {
			names = strings.Fields(v)
			continue
		}
		v, ok := strings.CutPrefix(line, "summary:")
		if !ok {
			continue
		}
		vals := strings.Fields(v)
		if len(names) == 0 || len(vals) != len(names) {
			return nil, fmt.Errorf("%s: %d summary values for events %q", path, len(vals), names)
		}
		events := make(map[string]int64, len(names))
		for i, n := range names {
			if events[n], err = strconv.ParseInt(vals[i], 10, 64); err != nil {
				return nil, fmt.Errorf("%s: summary of %s: %w", path, n, err)
			}
		}
		return events, nil
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("no summary line in %s", path)
}
