package caddymfa

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor/totp"
)

// A sign-in with a TOTP code is one write on a store that can count the
// attempt and start the session together (bbolt: one commit), two on one
// that cannot (Redis); a wrong code is counted either way.
func TestSignInWrites(t *testing.T) {
	want := map[string]int64{"bbolt": 1, "redis": 2}
	for _, st := range signInStores {
		t.Run(st.name, func(t *testing.T) {
			clk := &testClock{t: time.Now().Truncate(time.Second)}
			clock = clk.Now
			t.Cleanup(func() { clock = time.Now })
			h := newBenchHandler(t, func(h *Handler) { h.StoreRaw = []byte(st.json(t)) })
			counter := countWrites(h)
			secret := enrollBench(t, h, "alice")
			signIn := func(raw string) int {
				w := &nopWriter{h: http.Header{}}
				counter.reset()
				if err := h.ServeHTTP(w, caddyRequest(t, raw, w), &sawAlice{}); err != nil {
					t.Fatal(err)
				}
				return w.status
			}

			clk.Advance(30 * time.Second)
			if got := signIn(signInRequest(t, h, secret, clk.Now())); got != http.StatusOK {
				t.Fatalf("sign-in answered %d", got)
			}
			if n := counter.writes.Load(); n != want[st.name] {
				t.Errorf("a sign-in made %d writes, want %d", n, want[st.name])
			}
			sessions, err := h.backend.Sessions(t.Context(), "alice", clk.Now())
			if err != nil || len(sessions) != 1 {
				t.Fatalf("sessions after a sign-in: %v, %v", sessions, err)
			}

			clk.Advance(30 * time.Second)
			if got := signIn(signInRequestWith(t, h, wrongCode(secret, clk.Now()), clk.Now())); got != http.StatusUnauthorized {
				t.Fatalf("sign-in with a wrong code answered %d", got)
			}
			a, err := h.backend.Attempts(t.Context(), h.attemptKey("mfa", "alice"), clk.Now())
			if err != nil || a.Failures != 1 {
				t.Fatalf("counter after a wrong code: %+v, %v; want 1 failure", a, err)
			}
		})
	}
}

// wrongCode is a code that none of the steps accepted at at produces.
func wrongCode(secret []byte, at time.Time) string {
	p := totp.DefaultParams()
	now := totp.Step(at, p)
	for d := range 10 {
		c := strings.Repeat(strconv.Itoa(d), p.Digits)
		if c != totp.Code(secret, now-1, p) && c != totp.Code(secret, now, p) && c != totp.Code(secret, now+1, p) {
			return c
		}
	}
	panic("unreachable: three steps cannot produce ten codes")
}
