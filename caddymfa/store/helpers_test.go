package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckKey(t *testing.T) {
	cases := []struct {
		name    string
		key     string
		invalid bool
	}{
		{"empty", "", true},
		{"at the limit", strings.Repeat("k", MaxKeyLen), false},
		{"over the limit", strings.Repeat("k", MaxKeyLen+1), true},
		{"multi-byte at the limit", strings.Repeat("é", MaxKeyLen/2), false},
		{"multi-byte over the limit", strings.Repeat("é", MaxKeyLen/2) + "k", true},
		{"not UTF-8", "user\xff", true},
		{"separators", "attempt:ip:192.0.2.1", false},
	}
	for _, c := range cases {
		err := CheckKey("key", c.key)
		if got := errors.Is(err, ErrInvalid); got != c.invalid {
			t.Errorf("%s: CheckKey = %v, want invalid %v", c.name, err, c.invalid)
		}
		if err != nil && c.key != "" && strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: the error quotes the key", c.name)
		}
	}
}

func TestForgetAt(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		forget time.Duration
		a      Attempt
		want   time.Time
	}{
		{"kept until reset", 0, Attempt{LastAt: t0}, time.Time{}},
		{"after the last attempt", time.Hour, Attempt{LastAt: t0}, t0.Add(time.Hour)},
		{"lock ended before", time.Hour, Attempt{LastAt: t0, LockedUntil: t0.Add(-time.Minute)}, t0.Add(time.Hour)},
		{"after a longer lock", time.Hour, Attempt{LastAt: t0, LockedUntil: t0.Add(3 * time.Hour)}, t0.Add(4 * time.Hour)},
	}
	for _, c := range cases {
		if got := (LockPolicy{Forget: c.forget}).ForgetAt(c.a); !got.Equal(c.want) {
			t.Errorf("%s: ForgetAt = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRevocationCovers(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	bySession := Revocation{SessionID: "s1", User: "alice", ExpiresAt: t0.Add(time.Hour)}
	byUser := Revocation{User: "alice", NotBefore: t0, ExpiresAt: t0.Add(time.Hour)}
	cases := []struct {
		name      string
		r         Revocation
		sid, user string
		issued    time.Time
		want      bool
	}{
		{"the session", bySession, "s1", "alice", t0.Add(time.Hour), true},
		{"another session of the user", bySession, "s2", "alice", t0.Add(-time.Hour), false},
		{"user, issued before", byUser, "s2", "alice", t0.Add(-time.Nanosecond), true},
		{"user, issued at NotBefore", byUser, "s2", "alice", t0, false},
		{"another user", byUser, "s2", "bob", t0.Add(-time.Hour), false},
		{"names nobody", Revocation{NotBefore: t0}, "s2", "", t0.Add(-time.Hour), false},
	}
	for _, c := range cases {
		if got := c.r.Covers(c.sid, c.user, c.issued); got != c.want {
			t.Errorf("%s: Covers = %v, want %v", c.name, got, c.want)
		}
	}
}
