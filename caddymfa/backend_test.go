package caddymfa

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/caddymfa/store/redisstore"
	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// patience bounds waits for something another process or the network
// does; a safety net against hangs, not a measurement (figures are logged).
const patience = 10 * time.Second

// eventually polls cond until it holds and returns how long that took.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > patience {
			t.Fatalf("%s: not within %v", what, patience)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// redisBackend starts a backend on a Redis store of its own client, as one
// gateway instance would, and returns it with a second store on the same
// prefix standing for another instance.
func redisBackend(t *testing.T, addr string, failClosed bool) (*backend, *redisstore.Store) {
	t.Helper()
	prefix := "test:" + t.Name() + ":"
	st := redisstore.New(redis.NewClient(&redis.Options{Addr: addr}), redisstore.Options{Prefix: prefix, OwnClient: true})
	b, err := startBackend(t.Context(), st, failClosed, time.Now)
	if err != nil {
		_ = st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Destruct() })
	other := redisstore.New(redis.NewClient(&redis.Options{Addr: addr}), redisstore.Options{Prefix: prefix, OwnClient: true})
	t.Cleanup(func() { _ = other.Close() })
	return b, other
}

func TestBackendHearsRevocationsFromOtherInstances(t *testing.T) {
	b, other := redisBackend(t, testenv.Redis(t), false)
	// Whole milliseconds, as the gateway's whole seconds are: finer, Redis
	// rounds a NotBefore up, to cover more.
	now := time.Now().Truncate(time.Millisecond)
	start := time.Now()
	if err := other.Revoke(t.Context(), store.Revocation{SessionID: "s1", User: "alice", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a logout elsewhere reaches memory", func() bool { return b.revoked.revoked("s1", "alice", now) })
	t.Logf("revocation in memory %v after Revoke was called on another instance", time.Since(start))
	if err := other.Revoke(t.Context(), store.Revocation{User: "bob", NotBefore: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a user's revocation reaches memory", func() bool { return b.revoked.revoked("any", "bob", now.Add(-time.Second)) })
	if b.revoked.revoked("any", "bob", now) {
		t.Error("a session issued at NotBefore counts as revoked")
	}
}

// A revocation the feed never delivered (it was away) is loaded by the
// resync that follows the reconnect.
func TestBackendResyncsAfterLosingItsSubscription(t *testing.T) {
	addr := testenv.Redis(t)
	b, other := redisBackend(t, addr, false)
	now := time.Now()
	if err := other.Revoke(t.Context(), store.Revocation{SessionID: "s1", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "delivered", func() bool { return b.revoked.revoked("s1", "", now) })
	// Forget it, as if the message had been lost, then cut the feed.
	b.revoked.mu.Lock()
	clear(b.revoked.sessions)
	b.revoked.mu.Unlock()
	admin := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.ClientKillByFilter(t.Context(), "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, "resync after the reconnect reloads the revocation", func() bool { return b.revoked.revoked("s1", "", now) })
	t.Logf("revocation reloaded %v after the subscription was killed", took)
}

// With Redis gone, sessions keep working unless the store is fail_closed;
// either way all is as before once Redis is back.
func TestBackendFailClosed(t *testing.T) {
	for _, failClosed := range []bool{false, true} {
		t.Run(map[bool]string{false: "open", true: "closed"}[failClosed], func(t *testing.T) {
			srv := testenv.StartRedis(t, testenv.RedisOptions{})
			b, _ := redisBackend(t, srv.Addr(), failClosed)
			if err := b.sessionsUsable(); err != nil {
				t.Fatalf("with Redis up: %v", err)
			}
			srv.Stop()
			eventually(t, "the feed notices", func() bool { return !b.feed.Connected() })
			err := b.sessionsUsable()
			var ae *apiError
			switch {
			case !failClosed && err != nil:
				t.Fatalf("fail open, Redis down: %v, want sessions usable", err)
			case failClosed && (!errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable):
				t.Fatalf("fail closed, Redis down: %v, want a 503", err)
			}
			srv.Start()
			took := eventually(t, "sessions usable again", func() bool { return b.sessionsUsable() == nil && b.feed.Connected() })
			t.Logf("usable again %v after Redis restarted", took)
		})
	}
}

func TestRevocationsInMemory(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	rv := newRevocations()
	rv.add(store.Revocation{User: "alice", NotBefore: t0, ExpiresAt: t0.Add(2 * time.Hour)})
	rv.add(store.Revocation{User: "alice", NotBefore: t0.Add(-time.Hour), ExpiresAt: t0.Add(time.Hour)}) // narrower
	rv.add(store.Revocation{SessionID: "s1", ExpiresAt: t0.Add(2 * time.Hour)})
	rv.add(store.Revocation{SessionID: "s1", ExpiresAt: t0.Add(time.Hour)}) // narrower
	rv.add(store.Revocation{SessionID: "s2", ExpiresAt: t0.Add(time.Hour)})
	rv.sweep(t0.Add(time.Hour))
	cases := []struct {
		name      string
		sid, user string
		issued    time.Time
		want      bool
	}{
		{"user revocation kept at its later NotBefore and expiry", "any", "alice", t0.Add(-time.Minute), true},
		{"issued at NotBefore", "any", "alice", t0, false},
		{"session revocation kept until its later expiry", "s1", "", t0, true},
		{"lapsed session revocation swept", "s2", "", t0, false},
	}
	for _, c := range cases {
		if got := rv.revoked(c.sid, c.user, c.issued); got != c.want {
			t.Errorf("%s: revoked = %v, want %v", c.name, got, c.want)
		}
	}
	rv.sweep(t0.Add(2 * time.Hour))
	if rv.revoked("s1", "", t0) || rv.revoked("any", "alice", t0.Add(-time.Minute)) {
		t.Error("entries in memory after all their tokens expired")
	}
}

// The hot path asks memory, never Redis, whether a session was revoked:
// this is its whole cost, with 100 000 revocations held.
func BenchmarkRevocationCheck(b *testing.B) {
	rv := newRevocations()
	t0 := time.Now()
	for i := range 100_000 {
		rv.add(store.Revocation{SessionID: "sid-" + strconv.Itoa(i), ExpiresAt: t0.Add(time.Hour)})
		if i%10 == 0 {
			rv.add(store.Revocation{User: "user-" + strconv.Itoa(i), NotBefore: t0, ExpiresAt: t0.Add(time.Hour)})
		}
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rv.revoked("live-session", "user-5", t0) {
				b.Error("a live session counted as revoked")
			}
		}
	})
}
