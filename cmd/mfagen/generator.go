package main

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/keys"
	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// generator fills a store with users as the gateway would have written
// them, and times the gateway's store operations on it.
type generator struct {
	st      store.Store
	ring    *keys.Ring
	now     time.Time
	workers int
	samples int
	revoked float64
	users   atomic.Int64 // users written so far: 0 … users-1
	step    atomic.Int64 // TOTP steps used by measure, ever rising
}

func newGenerator(st store.Store, o options) (*generator, error) {
	ring, err := keys.NewRing(rand.Text() + rand.Text())
	if err != nil {
		return nil, err
	}
	g := &generator{st: st, ring: ring, now: time.Now(), workers: o.workers, samples: o.samples, revoked: o.revokedPct}
	g.step.Store(g.now.Unix() / 30)
	return g, nil
}

func userName(i int) string { return fmt.Sprintf("user-%07d@example.com", i) }

// ids are as long as the gateway's (crypto/rand.Text, 26 characters) and
// derived from i, so measure can find them again.
func sessionID(i int) string { return fmt.Sprintf("s%025d", i) }
func factorID(i int) string  { return fmt.Sprintf("f%025d", i) }

// fillTo writes users until there are n, or until maxFill has passed. It
// returns how many users there are.
func (g *generator) fillTo(ctx context.Context, n int, maxFill time.Duration) (int, error) {
	deadline := time.Now().Add(maxFill)
	next := atomic.Int64{}
	next.Store(g.users.Load())
	var (
		wg       sync.WaitGroup
		firstErr atomic.Pointer[error]
		done     atomic.Int64
	)
	stopProgress := g.progress(&done, int64(n)-g.users.Load())
	for range g.workers {
		wg.Go(func() {
			for firstErr.Load() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := g.writeUser(ctx, i); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	stopProgress()
	if err := firstErr.Load(); err != nil {
		return 0, *err
	}
	// Workers stop between users: every index below min(next, n) is written.
	reached := int(min(next.Load(), int64(n)))
	g.users.Store(int64(reached))
	return reached, nil
}

func (g *generator) progress(done *atomic.Int64, total int64) func() {
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				d := done.Load()
				fmt.Fprintf(os.Stderr, "  … %d/%d users, %.0f/s\n", d, total, float64(d)/time.Since(start).Seconds())
			}
		}
	}()
	return func() { close(stop); <-finished }
}

// writeUser enrolls user i: a confirmed TOTP factor (sealed secret), ten
// recovery code hashes, and a session; some sessions are then revoked.
func (g *generator) writeUser(ctx context.Context, i int) error {
	user := userName(i)
	secret := make([]byte, 20)
	rand.Read(secret)
	sealed, err := g.ring.Seal(secret, []byte(user))
	if err != nil {
		return err
	}
	err = g.st.SaveFactor(ctx, user, store.FactorRecord{
		ID: factorID(i), Type: "totp", Label: "Authenticator app", Secret: sealed,
		CreatedAt: g.now, LastStep: g.now.Unix()/30 - 1000,
	})
	if err != nil {
		return fmt.Errorf("SaveFactor: %w", err)
	}
	hashes := make([][]byte, 10)
	for j := range hashes {
		hashes[j] = g.ring.KeyedHash("recovery code", []byte(rand.Text()))
	}
	if err := g.st.ReplaceRecoveryCodes(ctx, user, hashes); err != nil {
		return fmt.Errorf("ReplaceRecoveryCodes: %w", err)
	}
	s := store.Session{
		ID: sessionID(i), User: user, CreatedAt: g.now, ExpiresAt: g.now.Add(12 * time.Hour),
		AMR: []string{"pwd", "otp", "mfa"}, ClientIP: "192.0.2.1",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	}
	if err := g.st.SaveSession(ctx, s); err != nil {
		return fmt.Errorf("SaveSession: %w", err)
	}
	if float64(i%10000) < g.revoked*100 {
		err := g.st.Revoke(ctx, store.Revocation{SessionID: s.ID, User: user, ExpiresAt: s.ExpiresAt.Add(30 * time.Second)})
		if err != nil {
			return fmt.Errorf("Revoke: %w", err)
		}
	}
	return nil
}

// opStat is the latency of one operation at one size.
type opStat struct {
	name     string
	p50, p99 time.Duration
}

type row struct {
	users  int
	fill   time.Duration
	memory memory
	ops    []opStat
}

// measure times the gateway's store operations one at a time on random
// existing users.
func (g *generator) measure(ctx context.Context) ([]opStat, error) {
	n := int(g.users.Load())
	pick := func() int { return mrand.IntN(n) }
	lock := store.LockPolicy{Threshold: 5, Locks: []time.Duration{5 * time.Minute, 15 * time.Minute, time.Hour}, HardCap: 100}
	ops := []struct {
		name  string
		times int
		op    func(i int) error
	}{
		// What a verified request would need if it went to the store; the
		// gateway keeps revocations in memory and loads them only at
		// start and after a lost feed.
		{"Revocations (load all)", min(g.samples, 20), func(int) error {
			_, err := g.st.Revocations(ctx, time.Now())
			return err
		}},
		// The second step of a sign-in, in the order the gateway makes
		// them (secondfactor.go, sessionstart.go): three reads, then one
		// write where the store can (bbolt), two where it cannot (Redis).
		{"Attempts (IP lock)", g.samples, func(i int) error {
			_, err := g.st.Attempts(ctx, "ip:"+userName(i), time.Now())
			return err
		}},
		{"Attempts (30-day window)", g.samples, func(i int) error {
			_, err := g.st.Attempts(ctx, "mfa30:"+userName(i), time.Now())
			return err
		}},
		{"Factors", g.samples, func(i int) error {
			_, err := g.st.Factors(ctx, userName(i))
			return err
		}},
		// Count the attempt, then spend the mfa_token and the code's
		// step, clear the counter and save the session.
		{"CountAndStart", g.samples, func(i int) error {
			start := &store.SessionStart{
				Session: store.Session{ID: rand.Text(), User: userName(i), CreatedAt: time.Now(),
					ExpiresAt: time.Now().Add(12 * time.Hour), AMR: []string{"pwd", "otp", "mfa"}},
				OnceKey: "mfa_token:" + rand.Text(), OnceExpiresAt: time.Now().Add(5 * time.Minute),
				Step:          store.StepUse{FactorID: factorID(i), Step: g.step.Add(1)},
				ResetAttempts: []string{"mfa:" + userName(i)},
			}
			_, err := store.CountAndStart(ctx, g.st, "mfa:"+userName(i), time.Now(), lock,
				func(store.Attempt) (*store.SessionStart, error) { return start, nil })
			return err
		}},
		{"Sessions (account page)", g.samples, func(i int) error {
			_, err := g.st.Sessions(ctx, userName(i), time.Now())
			return err
		}},
	}
	var stats []opStat
	var signIn [][]time.Duration // per sample, the sign-in operations in order
	for k, o := range ops {
		lat := make([]time.Duration, 0, o.times)
		for s := range o.times {
			i := pick()
			start := time.Now()
			if err := o.op(i); err != nil {
				return nil, fmt.Errorf("%s: %w", o.name, err)
			}
			lat = append(lat, time.Since(start))
			if k >= 1 && k <= 4 {
				if len(signIn) <= s {
					signIn = append(signIn, nil)
				}
				signIn[s] = append(signIn[s], lat[len(lat)-1])
			}
		}
		stats = append(stats, percentiles(o.name, lat))
	}
	// A sign-in's store time is the sum of its operations; summing
	// sample s of each approximates one sign-in.
	var sums []time.Duration
	for _, s := range signIn {
		var t time.Duration
		for _, d := range s {
			t += d
		}
		sums = append(sums, t)
	}
	stats = append(stats, percentiles("sign-in store time (sum of the 4 above)", sums))
	return stats, nil
}

func percentiles(name string, lat []time.Duration) opStat {
	slices.Sort(lat)
	return opStat{name: name, p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}
}

func printRow(r row) {
	fmt.Printf("  memory: %s (%s), %s per user\n", humanBytes(r.memory.bytes), r.memory.detail, humanBytes(r.memory.bytes/int64(r.users)))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	for _, o := range r.ops {
		fmt.Fprintf(tw, "  %s\tp50 %v\tp99 %v\n", o.name, round(o.p50), round(o.p99))
	}
	tw.Flush()
}

// printTable prints every size side by side, for BENCHMARKS.md.
func printTable(rows []row) {
	if len(rows) == 0 {
		return
	}
	fmt.Println()
	head := []string{"users", "memory", "per user"}
	for _, o := range rows[0].ops {
		head = append(head, o.name+" p50/p99")
	}
	fmt.Println("| " + strings.Join(head, " | ") + " |")
	fmt.Println("|" + strings.Repeat("---|", len(head)))
	for _, r := range rows {
		cells := []string{fmt.Sprint(r.users), humanBytes(r.memory.bytes), humanBytes(r.memory.bytes / int64(r.users))}
		for _, o := range r.ops {
			cells = append(cells, fmt.Sprintf("%v / %v", round(o.p50), round(o.p99)))
		}
		fmt.Println("| " + strings.Join(cells, " | ") + " |")
	}
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= 10*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}
