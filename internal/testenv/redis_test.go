package testenv

import (
	"errors"
	"testing"
)

func TestRedisAnswers(t *testing.T) {
	t.Setenv(RedisEnv, "")
	addr := Redis(t)
	if got, err := redisDo(addr, "PING"); err != nil || got != "PONG" {
		t.Fatalf("PING %s = %q, %v; want PONG", addr, got, err)
	}
	// A private server listens on loopback only and keeps nothing on disk.
	for _, tt := range []struct{ param, want string }{
		{"bind", "bind\n127.0.0.1"},
		{"save", "save\n"},
		{"appendonly", "appendonly\nno"},
	} {
		if got := mustDo(t, addr, "CONFIG", "GET", tt.param); got != tt.want {
			t.Errorf("CONFIG GET %s = %q, want %q", tt.param, got, tt.want)
		}
	}
}

func TestRedisUsesEnvAddress(t *testing.T) {
	s := StartRedis(t, RedisOptions{})
	t.Setenv(RedisEnv, s.Addr())
	if got := Redis(t); got != s.Addr() {
		t.Fatalf("Redis with %s=%s returned %s", RedisEnv, s.Addr(), got)
	}
}

func TestRedisServersArePrivate(t *testing.T) {
	a := StartRedis(t, RedisOptions{})
	b := StartRedis(t, RedisOptions{})
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s", a.Addr())
	}
	mustDo(t, a.Addr(), "SET", "k", "a")
	if _, err := redisDo(b.Addr(), "GET", "k"); !errors.Is(err, errRedisNil) {
		t.Fatalf("GET k on the second server: err = %v, want nil reply", err)
	}
}

func TestRedisAppendOnlyOption(t *testing.T) {
	s := StartRedis(t, RedisOptions{AppendOnly: true})
	if got := mustDo(t, s.Addr(), "CONFIG", "GET", "appendonly"); got != "appendonly\nyes" {
		t.Fatalf("CONFIG GET appendonly = %q, want yes", got)
	}
}

func TestRedisStopStart(t *testing.T) {
	tests := []struct {
		name      string
		opts      RedisOptions
		stop      func(*RedisServer)
		keepsData bool
	}{
		{"no persistence, stop", RedisOptions{}, (*RedisServer).Stop, false},
		{"append only, stop", RedisOptions{AppendOnly: true}, (*RedisServer).Stop, true},
		{"append only, kill", RedisOptions{AppendOnly: true}, (*RedisServer).Kill, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StartRedis(t, tt.opts)
			addr := s.Addr()
			mustDo(t, addr, "SET", "session", "alive")

			tt.stop(s)
			if s.Running() {
				t.Fatal("Running() after stop")
			}
			if _, err := redisDo(addr, "PING"); err == nil {
				t.Fatal("PING answered while the server is stopped")
			}

			s.Start()
			if s.Addr() != addr {
				t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
			}
			got, err := redisDo(addr, "GET", "session")
			switch {
			case tt.keepsData && (err != nil || got != "alive"):
				t.Fatalf("after restart GET session = %q, %v; want alive", got, err)
			case !tt.keepsData && !errors.Is(err, errRedisNil):
				t.Fatalf("after restart without persistence GET session = %q, %v; want nil", got, err)
			}
		})
	}
}

func mustDo(t *testing.T, addr string, args ...string) string {
	t.Helper()
	got, err := redisDo(addr, args...)
	if err != nil {
		t.Fatalf("%v on %s: %v", args, addr, err)
	}
	return got
}
