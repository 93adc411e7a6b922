package redisstore

import (
	"crypto/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/keys"
	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// Memory targets of the scale-out issue, as MEMORY USAGE reports them
// (key, value and bookkeeping) on the Redis the tests run. They are sizes,
// not timings, so they are asserted.
const (
	maxBytesPerUser    = 1024
	maxBytesPerSession = 300
)

// A typical desktop browser.
const chromeUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// TestMemoryPerUserAndSession enrolls users the way the gateway does (a
// sealed TOTP secret, ten keyed recovery code hashes, a first-seen time)
// and signs them in, then adds up what their keys cost.
func TestMemoryPerUserAndSession(t *testing.T) {
	addr := testenv.Redis(t)
	c := newClient(t, addr)
	// The default prefix, as in production; random user names keep the
	// test apart on a shared server.
	s := openStore(t, addr, DefaultPrefix, Options{})
	ctx := t.Context()
	ring, err := keys.NewRing(rand.Text() + rand.Text())
	must(t, err)
	t0 := wallClock()

	const users = 20
	var userBytes, sessionBytes, oneSessionBytes int64
	var sessions int
	for i := range users {
		user := strings.ToLower(rand.Text()[:8]) + "@example.com"
		secret, err := ring.Seal([]byte(rand.Text()[:20]), []byte(user))
		must(t, err)
		must(t, s.SaveFactor(ctx, user, store.FactorRecord{
			ID: rand.Text(), Type: "totp", Label: "Authenticator app", Secret: secret, CreatedAt: t0, LastStep: t0.Unix() / 30,
		}))
		hashes := make([][]byte, 10)
		for j := range hashes {
			hashes[j] = ring.KeyedHash("recovery code", []byte(rand.Text()[:12]))
		}
		must(t, s.ReplaceRecoveryCodes(ctx, user, hashes))
		_, err = s.FirstSeen(ctx, user, t0)
		must(t, err)
		userBytes += usage(t, c, s.keys.user(user)) + usage(t, c, s.keys.recovery(user))

		// Users have one to three sessions; the first pays for the index.
		n := 1 + i%3
		for j := range n {
			sid := rand.Text()
			must(t, s.SaveSession(ctx, store.Session{
				ID: sid, User: user, CreatedAt: t0, ExpiresAt: t0.Add(12 * time.Hour),
				AMR: []string{"pwd", "otp", "mfa"}, ClientIP: "203.0.113." + strconv.Itoa(j+10), UserAgent: chromeUA,
			}))
			sessionBytes += usage(t, c, s.keys.session(sid))
		}
		index := usage(t, c, s.keys.userSessions(user))
		sessionBytes += index
		sessions += n
		if n == 1 {
			oneSessionBytes = usage(t, c, s.keys.session(prefixOnly(t, c, s, user))) + index
		}
	}
	perUser, perSession := userBytes/users, sessionBytes/int64(sessions)
	t.Logf("MEMORY USAGE per enrolled user (TOTP + 10 recovery codes + first seen): %d bytes", perUser)
	t.Logf("MEMORY USAGE per session: %d bytes on average over %d sessions of %d users; %d bytes for a user's only session", perSession, sessions, users, oneSessionBytes)
	if perUser >= maxBytesPerUser {
		t.Errorf("%d bytes per user, target under %d", perUser, maxBytesPerUser)
	}
	if perSession >= maxBytesPerSession || oneSessionBytes >= maxBytesPerSession {
		t.Errorf("%d bytes per session (%d for an only session), target under %d", perSession, oneSessionBytes, maxBytesPerSession)
	}
}

// usage is MEMORY USAGE of key, counting every element.
func usage(t *testing.T, c *redis.Client, key string) int64 {
	t.Helper()
	n, err := c.MemoryUsage(t.Context(), key, 0).Result()
	must(t, err)
	return n
}

// prefixOnly returns the ID of user's only session.
func prefixOnly(t *testing.T, c *redis.Client, s *Store, user string) string {
	t.Helper()
	ids, err := c.ZRange(t.Context(), s.keys.userSessions(user), 0, -1).Result()
	must(t, err)
	if len(ids) != 1 {
		t.Fatalf("user has %d sessions, want 1", len(ids))
	}
	return ids[0]
}
