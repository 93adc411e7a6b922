package main

import (
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

func TestPairRoundsWeighsPlainByTime(t *testing.T) {
	run := func(rps float64, cpu time.Duration, p99 time.Duration) result {
		return result{requests: 1000, throughput: rps, serverCPU: 1000 * cpu, p99: p99}
	}
	// plain drifts from 900 to 1200 req/s; the site runs a third and two
	// thirds of the way, at exactly the plain rate of those moments.
	plain := []result{run(900, 100*time.Microsecond, 10*time.Millisecond), run(1200, 70*time.Microsecond, 10*time.Millisecond)}
	for pos, rps := range map[int]float64{1: 1000, 2: 1100} {
		cpu := time.Duration(100-10*pos) * time.Microsecond
		site := []result{run(rps, cpu, 10*time.Millisecond), run(1200, 70*time.Microsecond, 10*time.Millisecond)}
		got := pairRounds(plain, site, pos)
		if got.throughput.median != 1 || got.cpu.median != 0 || got.p99.median != 1 {
			t.Errorf("pos %d: %+v, want 1×, +0 µs, 1×", pos, got)
		}
	}
}
