package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// The suite runs against one real redis-server; each subtest gets a fresh
// prefix, which is as good as an empty server.
func TestConformance(t *testing.T) {
	addr := testenv.Redis(t)
	runConformance(t, func(*testing.T) redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: addr}) })
}

func TestCloseLeavesASharedClientOpen(t *testing.T) {
	addr := testenv.Redis(t)
	c := newClient(t, addr)
	s := New(c, Options{Prefix: uniquePrefix()})
	must(t, s.Close())
	must(t, s.Close())
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("the client the store did not own was closed: %v", err)
	}
	if _, err := s.Factors(t.Context(), "alice"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Factors after Close: %v, want ErrUnavailable", err)
	}

	owned := New(redis.NewClient(&redis.Options{Addr: addr}), Options{OwnClient: true})
	must(t, owned.Close())
	if err := owned.client.Ping(t.Context()).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("Ping on the owned client after Close: %v, want ErrClosed", err)
	}
}

func TestCancelledContext(t *testing.T) {
	s := openStore(t, testenv.Redis(t), uniquePrefix(), Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := map[string]func() error{
		"write":  func() error { return s.UseOnce(ctx, "k", time.Now().Add(time.Hour)) },
		"read":   func() error { _, err := s.Factors(ctx, "alice"); return err },
		"script": func() error { return s.UseStep(ctx, "alice", "f", 1) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: %v, want context.Canceled and not ErrUnavailable", name, err)
		}
	}
}

// A server that does not answer makes every method fail with
// ErrUnavailable, which the gateway turns into a 503.
func TestServerDownIsUnavailable(t *testing.T) {
	addr := "127.0.0.1:" + itoa(int64(testenv.FreePort(t)))
	s := New(redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second}), Options{OwnClient: true})
	t.Cleanup(func() { _ = s.Close() })
	now := time.Now()
	calls := map[string]func(ctx context.Context) error{
		"Factors": func(ctx context.Context) error { _, err := s.Factors(ctx, "alice"); return err },
		"CountAttempt": func(ctx context.Context) error {
			_, err := s.CountAttempt(ctx, "k", now, store.LockPolicy{})
			return err
		},
		"Attempts": func(ctx context.Context) error { _, err := s.Attempts(ctx, "k", now); return err },
		"UseOnce":  func(ctx context.Context) error { return s.UseOnce(ctx, "k", now.Add(time.Hour)) },
		"SaveSession": func(ctx context.Context) error {
			return s.SaveSession(ctx, store.Session{ID: "s", User: "u", ExpiresAt: now.Add(time.Hour)})
		},
		"Revoke": func(ctx context.Context) error {
			return s.Revoke(ctx, store.Revocation{SessionID: "s", ExpiresAt: now.Add(time.Hour)})
		},
		"Revocations":   func(ctx context.Context) error { _, err := s.Revocations(ctx, now); return err },
		"DeviceByToken": func(ctx context.Context) error { _, err := s.DeviceByToken(ctx, []byte("t"), now); return err },
		"Watch": func(ctx context.Context) error {
			return s.WatchRevocations(ctx, func(store.Revocation) {}, func() {})
		},
	}
	for name, call := range calls {
		if err := call(t.Context()); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the server down: %v, want ErrUnavailable", name, err)
		}
	}
}

// StartSession sends its scripts by digest inside pipelines; a server that
// lost its script cache (a restart, a failover) must still get them.
func TestStartSessionAfterScriptFlush(t *testing.T) {
	addr := testenv.Redis(t)
	ctx := t.Context()
	s := openStore(t, addr, uniquePrefix(), Options{})
	now := time.Now()
	must(t, s.SaveFactor(ctx, "alice", store.FactorRecord{ID: "f1", Type: "totp", Secret: []byte("sealed"), CreatedAt: now}))
	start := func(id string, step int64) error {
		return s.StartSession(ctx, store.SessionStart{
			Session: store.Session{ID: id, User: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
			OnceKey: "mfa_token:" + id, OnceExpiresAt: now.Add(time.Minute),
			Step: store.StepUse{FactorID: "f1", Step: step},
		})
	}
	for i, id := range []string{"s1", "s2"} {
		must(t, newClient(t, addr).ScriptFlush(ctx).Err())
		must(t, start(id, int64(10+i)))
	}
	if err := start("s3", 11); !errors.Is(err, store.ErrReplay) {
		t.Fatalf("StartSession with a spent step after a flush: %v, want ErrReplay", err)
	}
	list, err := s.Sessions(ctx, "alice", now)
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("sessions after flushes = %d, want 2", len(list))
	}
}
