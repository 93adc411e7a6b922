package main

import (
	"slices"
	"testing"
	"time"
)

// A small fill and measurement on each store, so that the generator keeps
// up with the store API: the users are there, the memory is weighed, every
// operation is timed, and the sign-ins it times start sessions.
func TestFillAndMeasure(t *testing.T) {
	for _, name := range []string{"bolt", "redis"} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			// 0.1 % of every 10 000 users revoked: the first ten.
			o := options{store: name, dir: t.TempDir(), workers: 8, samples: 20, revokedPct: 0.1, maxFill: time.Minute}
			target, err := openTarget(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(target.close)
			g, err := newGenerator(target.store, o)
			if err != nil {
				t.Fatal(err)
			}
			const users = 100
			if reached, err := g.fillTo(ctx, users, o.maxFill); err != nil || reached != users {
				t.Fatalf("fillTo(%d) = %d, %v", users, reached, err)
			}
			m, err := target.memory(ctx)
			if err != nil || m.bytes <= 0 {
				t.Fatalf("memory = %+v, %v", m, err)
			}
			factors, err := target.store.Factors(ctx, userName(users-1))
			if err != nil || len(factors) != 1 {
				t.Fatalf("the last user's factors: %v, %v", factors, err)
			}
			sessions := func() int {
				n := 0
				for i := range users {
					list, err := target.store.Sessions(ctx, userName(i), time.Now())
					if err != nil {
						t.Fatal(err)
					}
					n += len(list)
				}
				return n
			}
			before := sessions()
			if before != users-10 {
				t.Fatalf("%d sessions after filling %d users, want one per user less the ten revoked", before, users)
			}

			ops, err := g.measure(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, op := range ops {
				names = append(names, op.name)
				if op.p50 <= 0 || op.p99 < op.p50 {
					t.Errorf("%s: p50 %v, p99 %v", op.name, op.p50, op.p99)
				}
			}
			for _, want := range []string{"Attempts (IP lock)", "Factors", "CountAndStart", "sign-in store time (sum of the 4 above)"} {
				if !slices.Contains(names, want) {
					t.Errorf("measured %q, want %q among them", names, want)
				}
			}
			if after := sessions(); after != before+o.samples {
				t.Fatalf("%d sessions after measuring, want %d: each timed sign-in starts one", after, before+o.samples)
			}
		})
	}
}
