package caddymfa

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor/totp"
	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/caddymfa/users"
	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// The sign-in path without the password: POST /_mfa/api/v1/verify with an
// mfa_token and a TOTP code, through to a new session (token, cookie,
// stored record), on each store. The clock is injected and moves 30 s per
// sign-in, so every code is of a new time step. Besides ns/op it reports
// the p50 and p99 of single sign-ins and how many store calls one makes.

// signInStores are the stores the sign-in benchmarks run on.
var signInStores = []struct {
	name string
	json func(tb testing.TB) string
}{
	{"bbolt", func(tb testing.TB) string {
		return fmt.Sprintf(`{"backend":"file","path":%q}`, tb.TempDir()+"/mfa.db")
	}},
	{"redis", func(tb testing.TB) string {
		return fmt.Sprintf(`{"backend":"redis","url":"redis://%s","prefix":%q}`, testenv.Redis(tb), "bench:"+newID()+":")
	}},
}

func BenchmarkSignInVerify(b *testing.B) {
	for _, st := range signInStores {
		b.Run(st.name, func(b *testing.B) {
			clk := &testClock{t: time.Now().Truncate(time.Second)}
			clock = clk.Now
			b.Cleanup(func() { clock = time.Now })
			h := newBenchHandler(b, func(h *Handler) { h.StoreRaw = json.RawMessage(st.json(b)) })
			counter := countWrites(h)
			secret := enrollBench(b, h, "alice")

			lat := make([]time.Duration, 0, b.N)
			type signIn struct {
				w *nopWriter
				r *http.Request
				t time.Time
			}
			const batch = 64
			ops := make([]signIn, batch)
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(batch, b.N-done)
				b.StopTimer()
				for i := range n {
					at := clk.Now().Add(time.Duration(i+1) * 30 * time.Second)
					ops[i] = signIn{w: &nopWriter{h: http.Header{}}, t: at}
					ops[i].r = caddyRequest(b, signInRequest(b, h, secret, at), ops[i].w)
				}
				counter.reset()
				b.StartTimer()
				for _, op := range ops[:n] {
					clk.Advance(op.t.Sub(clk.Now()))
					start := time.Now()
					err := h.ServeHTTP(op.w, op.r, &sawAlice{})
					lat = append(lat, time.Since(start))
					if err != nil || op.w.status != http.StatusOK {
						b.Fatalf("sign-in answered %d, %v", op.w.status, err)
					}
				}
				b.StopTimer()
				counter.perOp(n)
				b.StartTimer()
				done += n
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(counter.writesPerOp, "writes/op")
			b.ReportMetric(counter.readsPerOp, "reads/op")
		})
	}
}

// enrollBench gives user an active TOTP factor and returns its secret.
func enrollBench(tb testing.TB, h *Handler, user string) []byte {
	tb.Helper()
	secret, err := totp.NewSecret()
	if err != nil {
		tb.Fatal(err)
	}
	sealed, err := h.ring.Seal(secret, []byte(user))
	if err != nil {
		tb.Fatal(err)
	}
	err = h.backend.SaveFactor(context.Background(), user, store.FactorRecord{
		ID: newID(), Type: "totp", Label: "Authenticator app", Secret: sealed, CreatedAt: h.now(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return secret
}

// signInRequest is the second step of alice's sign-in at time at: the
// mfa_token her password got her, and the code her app shows.
func signInRequest(tb testing.TB, h *Handler, secret []byte, at time.Time) string {
	p := totp.DefaultParams()
	return signInRequestWith(tb, h, totp.Code(secret, totp.Step(at, p), p), at)
}

// signInRequestWith is signInRequest with code as the code sent.
func signInRequestWith(tb testing.TB, h *Handler, code string, at time.Time) string {
	tok, err := h.tokens.issuePending(pending{
		User: "alice", ID: newID(), Audience: benchHost,
		ExpiresAt: at.Add(defaultPendingLifetime), AuthTime: at, AMR: []string{"pwd"},
		PasswordTag: h.passwordTags["alice"],
	}, at)
	if err != nil {
		tb.Fatal(err)
	}
	body := fmt.Sprintf(`{"mfa_token":%q,"code":%q}`, tok, code)
	return "POST /_mfa/api/v1/verify HTTP/1.1\r\n" +
		"Host: " + benchHost + "\r\n" +
		"User-Agent: mfa-cli/1.0\r\n" +
		"Accept: application/json\r\n" +
		"Content-Type: application/json\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n", len(body)) +
		"\r\n" + body
}

// countWrites puts a countingStore in front of h's store, keeping its
// CountAndStart if it has one.
func countWrites(h *Handler) *countingStore {
	c := &countingStore{Store: h.backend.Store}
	h.backend.Store = c
	if cs, ok := c.Store.(store.CountingStarter); ok {
		h.backend.Store = &countingStarter{countingStore: c, cs: cs}
	}
	return c
}

// countingStarter is a countingStore of a store.CountingStarter.
type countingStarter struct {
	*countingStore
	cs store.CountingStarter
}

func (c *countingStarter) CountAndStart(ctx context.Context, key string, now time.Time, p store.LockPolicy,
	check func(store.Attempt) (*store.SessionStart, error)) (store.Attempt, error) {
	c.writes.Add(1)
	return c.cs.CountAndStart(ctx, key, now, p, check)
}

// countingStore counts the store calls of the operations it wraps.
type countingStore struct {
	store.Store
	writes, reads atomic.Int64

	writesPerOp, readsPerOp float64
}

func (c *countingStore) reset() { c.writes.Store(0); c.reads.Store(0) }

func (c *countingStore) perOp(n int) {
	c.writesPerOp = float64(c.writes.Load()) / float64(n)
	c.readsPerOp = float64(c.reads.Load()) / float64(n)
}

func (c *countingStore) Factors(ctx context.Context, user string) ([]store.FactorRecord, error) {
	c.reads.Add(1)
	return c.Store.Factors(ctx, user)
}

func (c *countingStore) Attempts(ctx context.Context, key string, now time.Time) (store.Attempt, error) {
	c.reads.Add(1)
	return c.Store.Attempts(ctx, key, now)
}

func (c *countingStore) UseStep(ctx context.Context, user, factorID string, step int64) error {
	c.writes.Add(1)
	return c.Store.UseStep(ctx, user, factorID, step)
}

func (c *countingStore) CountAttempt(ctx context.Context, key string, now time.Time, p store.LockPolicy) (store.Attempt, error) {
	c.writes.Add(1)
	return c.Store.CountAttempt(ctx, key, now, p)
}

func (c *countingStore) ResetAttempts(ctx context.Context, key string) error {
	c.writes.Add(1)
	return c.Store.ResetAttempts(ctx, key)
}

func (c *countingStore) SaveSession(ctx context.Context, s store.Session) error {
	c.writes.Add(1)
	return c.Store.SaveSession(ctx, s)
}

func (c *countingStore) StartSession(ctx context.Context, s store.SessionStart) error {
	c.writes.Add(1)
	return c.Store.StartSession(ctx, s)
}

func (c *countingStore) UseOnce(ctx context.Context, key string, expiresAt time.Time) error {
	c.writes.Add(1)
	return c.Store.UseOnce(ctx, key, expiresAt)
}

func (c *countingStore) OnceUsed(ctx context.Context, key string) (bool, error) {
	c.reads.Add(1)
	return c.Store.OnceUsed(ctx, key)
}

func (c *countingStore) FirstSeen(ctx context.Context, user string, now time.Time) (time.Time, error) {
	c.writes.Add(1)
	return c.Store.FirstSeen(ctx, user, now)
}

// Password verification at the costs an operator meets: argon2id as
// `caddy hash-password --algorithm argon2id` and users.HashPassword make it
// (m=47104 KiB, t=1, p=1), and bcrypt at cost 10 (the least accepted) and
// 14 (`caddy hash-password`'s default; about a second per check).
func BenchmarkPasswordVerify(b *testing.B) {
	const password = "correct horse battery staple"
	for _, c := range []struct {
		name string
		hash func() (string, error)
	}{
		{"argon2id-m47104-t1-p1", func() (string, error) { return users.HashPassword(password) }},
		{"bcrypt-10", func() (string, error) {
			h, err := bcrypt.GenerateFromPassword([]byte(password), 10)
			return string(h), err
		}},
		{"bcrypt-14", func() (string, error) {
			h, err := bcrypt.GenerateFromPassword([]byte(password), 14)
			return string(h), err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			enc, err := c.hash()
			if err != nil {
				b.Fatal(err)
			}
			hash, err := users.ParseHash(enc)
			if err != nil {
				b.Fatal(err)
			}
			if !strings.HasPrefix(enc, "$argon2id$v=19$m=47104,t=1,p=1$") && !strings.HasPrefix(enc, "$2a$") {
				b.Fatalf("unexpected hash parameters: %.30s", enc)
			}
			for b.Loop() {
				if !hash.Verify(password) {
					b.Fatal("password refused")
				}
			}
		})
	}
}
