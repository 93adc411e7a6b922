package main

import (
	"fmt"
	"math"
	"slices"
)

// estimate is the median of some per-round figures with a 95 %
// confidence interval of that median.
type estimate struct {
	median, lo, hi float64
	// ok is false when there are too few rounds for an interval (the
	// interval is then the whole range).
	ok     bool
	format string
}

func (e estimate) String() string {
	f := e.format
	s := fmt.Sprintf(f, e.median)
	if !e.ok {
		return s + " (too few rounds for a CI)"
	}
	return s + " (" + fmt.Sprintf(f, e.lo) + " to " + fmt.Sprintf(f, e.hi) + ")"
}

// pairedSummary is one site against plain, round by round.
type pairedSummary struct {
	throughput, cpu, p99 estimate
}

// pairRounds sets each run of a site against plain at the same moment.
// Runs go P S₁ S₂ P S₁ S₂ …, so site number pos (1 or 2) runs pos thirds
// of the way from plain run i to plain run i+1: the plain figure it is
// held against is the two plain runs weighted by that distance. The last
// round, with no plain run after it, is held against the one before.
func pairRounds(plain, site []result, pos int) pairedSummary {
	var tp, cpu, p99 []float64
	for i, r := range site[:min(len(site), len(plain))] {
		before, after, w := plain[i], plain[i], float64(pos)/3
		if i+1 < len(plain) {
			after = plain[i+1]
		}
		at := func(a, b float64) float64 { return (1-w)*a + w*b }
		tp = append(tp, r.throughput/at(before.throughput, after.throughput))
		cpu = append(cpu, micros(r.cpuPerRequest())-at(micros(before.cpuPerRequest()), micros(after.cpuPerRequest())))
		p99 = append(p99, float64(r.p99)/at(float64(before.p99), float64(after.p99)))
	}
	return pairedSummary{
		throughput: medianCI(tp, "%.3f×"),
		cpu:        medianCI(cpu, "%+.1f µs"),
		p99:        medianCI(p99, "%.3f×"),
	}
}

// medianCI is the median of xs with a distribution-free 95 % confidence
// interval: the k-th smallest and k-th largest value, for the largest k
// with P(Binomial(n, ½) < k) ≤ 2.5 %. It needs 6 values or more.
func medianCI(xs []float64, format string) estimate {
	s := slices.Clone(xs)
	slices.Sort(s)
	e := estimate{median: median(s), format: format}
	n := len(s)
	if n == 0 {
		return e
	}
	e.lo, e.hi = s[0], s[n-1]
	k := ciRank(n)
	if k == 0 {
		return e
	}
	e.lo, e.hi, e.ok = s[k-1], s[n-k], true
	return e
}

// ciRank is the largest k ≥ 1 with P(Binomial(n, ½) ≤ k−1) ≤ 0.025, or 0
// when even k = 1 does not qualify (n < 6).
func ciRank(n int) int {
	k, cdf := 0, 0.0
	for i := 0; i < n; i++ {
		cdf += binomialHalf(n, i)
		if cdf > 0.025 {
			break
		}
		k = i + 1
	}
	return k
}

// binomialHalf is P(Binomial(n, ½) = i).
func binomialHalf(n, i int) float64 {
	ln := func(x int) float64 { v, _ := math.Lgamma(float64(x) + 1); return v }
	return math.Exp(ln(n) - ln(i) - ln(n-i) - float64(n)*math.Ln2)
}
