package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestCIRank(t *testing.T) {
	// From binomial tables: the 95 % CI of a median of n values runs from
	// the k-th smallest to the k-th largest value.
	for n, want := range map[int]int{5: 0, 6: 1, 9: 2, 10: 2, 20: 6, 25: 8, 50: 18, 100: 40} {
		if got := ciRank(n); got != want {
			t.Errorf("ciRank(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestMedianCI(t *testing.T) {
	xs := []float64{9, 1, 8, 2, 7, 3, 6, 4, 5, 10}
	e := medianCI(xs, "%.1f")
	if !e.ok || e.median != 5.5 || e.lo != 2 || e.hi != 9 {
		t.Errorf("medianCI = %+v, want median 5.5 from 2 to 9", e)
	}
	if e := medianCI(xs[:5], "%.1f"); e.ok || e.lo != 1 || e.hi != 9 {
		t.Errorf("medianCI of 5 values = %+v, want no CI, the range 1 to 9", e)
	}
}

// TestPairRoundsWeighsPlainByTime: a run is held against the plain runs
// around it, weighted by how far each is, in either order of the sites.
func TestPairRoundsWeighsPlainByTime(t *testing.T) {
	run := func(slot int, rps float64, cpu time.Duration) result {
		return result{slot: slot, requests: 1000, throughput: rps, serverCPU: 1000 * cpu, p99: 10 * time.Millisecond}
	}
	// plain drifts by 100 req/s and -10 µs per slot; a site that runs at
	// exactly plain's rate of its moment must read 1×, +0 µs.
	at := func(slot int) result {
		return run(slot, 900+100*float64(slot), time.Duration(100-10*slot)*time.Microsecond)
	}
	for name, tc := range map[string]struct {
		plain, site []int
	}{
		// abc: plain 0, mfa 1, fwd 2, plain 3, …
		"abc, site 1":     {[]int{0, 3, 6, 9}, []int{1, 4, 7}},
		"abc, site 2":     {[]int{0, 3, 6, 9}, []int{2, 5, 8}},
		"abc-bac, site 1": {[]int{0, 4, 6, 10}, []int{1, 3, 7, 9}},
		// a site run before any plain run is held against the first
		"site first": {[]int{1, 2}, []int{0}},
	} {
		var plain, site []result
		for _, s := range tc.plain {
			plain = append(plain, at(s))
		}
		for _, s := range tc.site {
			r := at(s)
			if name == "site first" {
				r = at(1) // as fast as the only plain run it has
				r.slot = s
			}
			site = append(site, r)
		}
		got := pairRounds(plain, site)
		if math.Abs(got.throughput.median-1) > 1e-9 || math.Abs(got.cpu.median) > 1e-9 || got.p99.median != 1 {
			t.Errorf("%s: %+v, want 1×, +0 µs, 1×", name, got)
		}
	}
	// A run 10 % faster than plain at its moment reads 1.1×.
	got := pairRounds([]result{at(0), at(3)}, []result{run(1, 1.1*1000, 90*time.Microsecond)})
	if math.Abs(got.throughput.median-1.1) > 1e-9 || math.Abs(got.cpu.median) > 1e-9 {
		t.Errorf("a run 10 %% faster: %+v, want 1.1×, +0 µs", got)
	}
}

// TestReportLabelsControlRuns: only a run of the gateway as configured
// prints "target" lines; a control run prints the same checks as
// "control", so its verdicts cannot be read as the targets'.
func TestReportLabelsControlRuns(t *testing.T) {
	sites := [3]site{{name: "plain"}, {name: "mfa"}, {name: "fwd"}}
	results := map[string][]result{}
	for i := range 6 {
		for j, s := range sites {
			results[s.name] = append(results[s.name], result{slot: 3*i + j, requests: 1000, throughput: 1000,
				serverCPU: 100 * time.Millisecond, p50: time.Millisecond, p99: 2 * time.Millisecond, elapsed: time.Second})
		}
	}
	for name, o := range map[string]options{
		"gateway":          {rounds: 6},
		"-bypass-control":  {rounds: 6, control: true},
		"-aa-control":      {rounds: 6, aaControl: true},
		"-headers-control": {rounds: 6, headersControl: true},
	} {
		var out strings.Builder
		report(&out, sites, results, o)
		var targets, controls int
		for line := range strings.Lines(out.String()) {
			switch {
			case strings.HasPrefix(line, "target "):
				targets++
			case strings.HasPrefix(line, "control "):
				controls++
			}
		}
		want := [2]int{6, 0}
		if o.isControl() {
			want = [2]int{0, 6}
		}
		if got := [2]int{targets, controls}; got != want {
			t.Errorf("%s: %d target and %d control lines, want %v:\n%s", name, targets, controls, want, out.String())
		}
		if !strings.Contains(out.String(), "met") {
			t.Errorf("%s: no verdict printed:\n%s", name, out.String())
		}
	}
}
