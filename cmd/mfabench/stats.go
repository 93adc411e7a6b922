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

// pairRounds sets each run of a site against plain at the same moment:
// the plain runs just before and just after it (by slot), weighted by how
// far each is. With the order plain, site 1, site 2 in every round, site
// number n runs n thirds of the way from one plain run to the next. A run
// with plain on one side only is held against that one.
func pairRounds(plain, site []result) pairedSummary {
	var tp, cpu, p99 []float64
	for _, r := range site {
		before, after := -1, -1
		for i, p := range plain {
			if p.slot < r.slot && (before < 0 || p.slot > plain[before].slot) {
				before = i
			}
			if p.slot > r.slot && (after < 0 || p.slot < plain[after].slot) {
				after = i
			}
		}
		switch {
		case before < 0 && after < 0:
			continue
		case before < 0:
			before = after
		case after < 0:
			after = before
		}
		b, a, w := plain[before], plain[after], 0.0
		if a.slot != b.slot {
			w = float64(r.slot-b.slot) / float64(a.slot-b.slot)
		}
		at := func(x, y float64) float64 { return (1-w)*x + w*y }
		tp = append(tp, r.throughput/at(b.throughput, a.throughput))
		cpu = append(cpu, micros(r.cpuPerRequest())-at(micros(b.cpuPerRequest()), micros(a.cpuPerRequest())))
		p99 = append(p99, float64(r.p99)/at(float64(b.p99), float64(a.p99)))
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
