package main

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestReadSummary(t *testing.T) {
	dir := t.TempDir()
	dump := dir + "/callgrind.1.1"
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(dump, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("# callgrind format\nversion: 1\nevents: Ir\nfn=(1) main\n3 7\nsummary: 390894661\ntotals: 390894661\n")
	if ev, err := readSummary(dump); err != nil || len(ev) != 1 || ev["Ir"] != 390894661 {
		t.Errorf("readSummary = %v, %v; want Ir 390894661 from the summary line", ev, err)
	}
	write("events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nsummary: 900 300 200 40 20 10 3 2 1\n")
	ev, err := readSummary(dump)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"Ir": 900, "Dr": 300, "Dw": 200, "I1mr": 40, "D1mr": 20, "D1mw": 10, "ILmr": 3, "DLmr": 2, "DLmw": 1}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("%s = %d, want %d", k, ev[k], v)
		}
	}
	for _, bad := range []string{
		"events: Ir\ntotals: 5\n",       // no summary line
		"summary: 5\n",                  // no events line before it
		"events: Ir I1mr\nsummary: 5\n", // fewer values than events
		"events: Ir\nsummary: 5x\n",     // not a number
	} {
		write(bad)
		if ev, err := readSummary(dump); err == nil {
			t.Errorf("%q read as %v", bad, ev)
		}
	}
}

func TestMetricPerRequest(t *testing.T) {
	events := map[string]int64{"Ir": 9000, "I1mr": 400, "D1mr": 200, "D1mw": 100, "ILmr": 30, "DLmr": 20, "DLmw": 10}
	// 9000 + 10×700 + 100×60 = 22000 cycles over 10 requests.
	want := map[string]float64{"instructions": 900, "L1i misses": 40, "L1d misses": 30, "LL misses": 6, "est. cycles": 2200}
	for _, m := range append([]metric{instructionsMetric}, cacheMetrics...) {
		if got, err := m.perRequest(events, 10); err != nil || got != want[m.name] {
			t.Errorf("%s = %v, %v; want %v", m.name, got, err, want[m.name])
		}
	}
	// Without the cache simulation only the instructions can be had.
	ir := map[string]int64{"Ir": 9000}
	if got, err := instructionsMetric.perRequest(ir, 10); err != nil || got != 900 {
		t.Errorf("instructions alone = %v, %v; want 900", got, err)
	}
	for _, m := range cacheMetrics {
		if _, err := m.perRequest(ir, 10); err == nil || !strings.Contains(err.Error(), "-cache-sim") {
			t.Errorf("%s from a dump without misses: %v, want an error pointing at -cache-sim", m.name, err)
		}
	}
	branches := map[string]int64{"Ir": 9000, "Bc": 1500, "Bcm": 120, "Bi": 300, "Bim": 30}
	wantBranches := map[string]float64{"branches": 180, "mispredicts": 15}
	for _, m := range branchMetrics {
		if got, err := m.perRequest(branches, 10); err != nil || got != wantBranches[m.name] {
			t.Errorf("%s = %v, %v; want %v", m.name, got, err, wantBranches[m.name])
		}
		if _, err := m.perRequest(ir, 10); err == nil || !strings.Contains(err.Error(), "-branch-sim") {
			t.Errorf("%s from a dump without branches: %v, want an error pointing at -branch-sim", m.name, err)
		}
	}
}

func TestCallgrindArgs(t *testing.T) {
	for _, c := range []struct {
		o    options
		want []string
	}{
		{options{}, nil},
		{options{instructions: 10}, []string{}},
		{options{instructions: 10, cacheSim: true}, []string{"--cache-sim=yes"}},
		{options{instructions: 10, branchSim: true}, []string{"--branch-sim=yes"}},
		{options{instructions: 10, cacheSim: true, branchSim: true}, []string{"--cache-sim=yes", "--branch-sim=yes"}},
	} {
		got := callgrindArgs(c.o)
		if (got == nil) != (c.want == nil) || !slices.Equal(got, c.want) {
			t.Errorf("callgrindArgs(%+v) = %#v, want %#v", c.o, got, c.want)
		}
	}
}
