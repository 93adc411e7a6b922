package caddymfa

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// StoreOpener is implemented by the guest modules of the http.mfa.stores
// namespace. Handlers whose openers return the same PoolKey share one
// backend (one file handle or one connection pool, one revocation set),
// across sites and across config reloads.
type StoreOpener interface {
	PoolKey() string
	OpenStore(ctx caddy.Context) (store.Store, error)
}

// dataNamer is a StoreOpener whose pool key holds more than where its
// data lives (pool sizes, timeouts, credentials): DataName names the data
// alone, the same in every process and without credentials. Backends of
// one data name are one store to sessions and to the admin API.
type dataNamer interface {
	DataName() string
}

// failClosedOpener is a StoreOpener whose backend must refuse sessions
// while its revocation feed is down (the Redis store's fail_closed).
type failClosedOpener interface {
	FailClosedOnFeedLoss() bool
}

// feedStatus is a RevocationFeed that can tell whether it is connected
// now, with its resync done.
type feedStatus interface {
	Connected() bool
}

// backends holds every open store, keyed by PoolKey. A reload provisions
// the new config before the old one is cleaned up, so the count never
// drops to zero and the store stays open.
var backends = caddy.NewUsagePool()

// How the backend keeps its revocations current: a check of the feed
// every second, and once a minute dropping entries whose tokens have all
// expired.
const (
	feedCheckEvery  = time.Second
	sweepEvery      = time.Minute
	reloadTimeout   = 10 * time.Second
	reloadRetryWait = 2 * time.Second
)

// errRevocationsStale is why a fail-closed backend refuses sessions.
var errRevocationsStale = errors.New("revocation feed disconnected: logouts on other instances may be unheard")

// backend is a store plus what every handler on it must share: the
// in-memory copy of revocations that the hot path consults, kept current
// by the store's revocation feed when it has one.
type backend struct {
	store.Store
	revoked    *revocations
	now        func() time.Time
	logger     *zap.Logger
	failClosed bool
	feed       feedStatus // nil: no feed, or one that cannot tell
	// name is the data the backend works on (dataNamer), else its pool
	// key with any password masked: how the admin API shows the store.
	name string

	// current: every revocation in force is in revoked, as far as this
	// instance can know. False from a failed reload until a good one.
	current atomic.Bool
	stop    context.CancelFunc
	loops   sync.WaitGroup
}

// Destruct stops the feed and the sweep, then closes the store.
func (b *backend) Destruct() error {
	b.stop()
	b.loops.Wait()
	return b.Close()
}

func acquireBackend(ctx caddy.Context, opener StoreOpener, now func() time.Time) (*backend, string, error) {
	key := opener.PoolKey()
	val, _, err := backends.LoadOrNew(key, func() (caddy.Destructor, error) {
		st, err := opener.OpenStore(ctx)
		if err != nil {
			return nil, err
		}
		failClosed := false
		if fc, ok := opener.(failClosedOpener); ok {
			failClosed = fc.FailClosedOnFeedLoss()
		}
		b, err := startBackend(ctx, st, failClosed, now)
		if err != nil {
			_ = st.Close()
			return nil, err
		}
		b.name = storeName(key)
		if dn, ok := opener.(dataNamer); ok {
			b.name = dn.DataName()
		}
		return b, nil
	})
	if err != nil {
		return nil, "", err
	}
	return val.(*backend), key, nil
}

// startBackend loads the revocations and starts keeping them current. The
// backend outlives the config that opened it, so its goroutines run on a
// context of their own, ended by Destruct.
func startBackend(ctx context.Context, st store.Store, failClosed bool, now func() time.Time) (*backend, error) {
	b := &backend{
		Store:      st,
		revoked:    newRevocations(),
		now:        now,
		logger:     caddy.Log().Named("http.handlers.mfa.store"),
		failClosed: failClosed,
	}
	bg, stop := context.WithCancel(context.Background())
	b.stop = stop
	if feed, ok := st.(store.RevocationFeed); ok {
		// Subscribed before loading, so nothing revoked in between is lost.
		if err := feed.WatchRevocations(bg, b.revoked.add, b.resync); err != nil {
			stop()
			return nil, fmt.Errorf("watching revocations: %w", err)
		}
		b.feed, _ = st.(feedStatus)
	}
	loadCtx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	if err := b.reload(loadCtx); err != nil {
		stop()
		return nil, fmt.Errorf("loading revocations: %w", err)
	}
	b.loops.Go(func() { b.maintain(bg) })
	return b, nil
}

// reload adds every revocation in force to memory. Entries only ever get
// added (a revocation is never undone); sweep drops the lapsed ones.
func (b *backend) reload(ctx context.Context) error {
	list, err := b.Revocations(ctx, b.now())
	if err != nil {
		b.current.Store(false)
		return err
	}
	for _, r := range list {
		b.revoked.add(r)
	}
	b.current.Store(true)
	return nil
}

// resync is the feed's call after it reconnected: whatever was revoked
// while it was away is loaded now. Should that fail, maintain retries.
func (b *backend) resync() {
	ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
	defer cancel()
	if err := b.reload(ctx); err != nil {
		b.logger.Warn("revocation feed reconnected, reloading revocations failed; retrying", zap.Error(err))
		return
	}
	b.logger.Info("revocation feed reconnected, revocations reloaded")
}

// maintain sweeps lapsed revocations, retries a failed reload, and logs
// when the feed comes and goes.
func (b *backend) maintain(ctx context.Context) {
	tick := time.NewTicker(feedCheckEvery)
	defer tick.Stop()
	lastSweep, lastTry := time.Now(), time.Now()
	up := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if b.feed != nil {
			switch now := b.feed.Connected(); {
			case up && !now:
				b.logger.Warn("revocation feed lost; logouts on other instances go unheard until it is back",
					zap.Bool("fail_closed", b.failClosed))
			case !up && now:
				b.logger.Info("revocation feed back")
			}
			up = b.feed.Connected()
		}
		if !b.current.Load() && time.Since(lastTry) >= reloadRetryWait {
			lastTry = time.Now()
			rctx, cancel := context.WithTimeout(ctx, reloadTimeout)
			if err := b.reload(rctx); err == nil {
				b.logger.Info("revocations reloaded")
			}
			cancel()
		}
		if time.Since(lastSweep) >= sweepEvery {
			lastSweep = time.Now()
			b.revoked.sweep(b.now())
		}
	}
}

// sessionsUsable says whether sessions may be trusted now. Only a
// fail-closed backend ever refuses: while its feed is down, or its
// revocations could not be reloaded, a session revoked elsewhere would
// pass, so every session gets a 503 instead.
func (b *backend) sessionsUsable() error {
	if !b.failClosed {
		return nil
	}
	if b.current.Load() && (b.feed == nil || b.feed.Connected()) {
		return nil
	}
	return unavailable(errRevocationsStale)
}

// revoke records r in the store and, once stored, in memory.
func (b *backend) revoke(ctx context.Context, r store.Revocation) error {
	if err := b.Revoke(ctx, r); err != nil {
		return err
	}
	b.revoked.add(r)
	return nil
}

// longestLifetime is the longest session_lifetime among the running
// handlers on b's data, and at least own. Sites sharing a store (and a
// cookie_domain) accept and renew each other's sessions, each up to its
// own session_lifetime: a revocation or a session record must last as
// long as the most lenient of them keeps a session alive. Sites whose
// connection settings differ have backends of their own on the same data.
func (b *backend) longestLifetime(own time.Duration) time.Duration {
	for _, h := range handlersOn(b.name) {
		own = max(own, h.lifetime)
	}
	return own
}

// handlersOn are the running handlers whose store holds the data named
// name, through whichever backend.
func handlersOn(name string) []*Handler {
	live.Lock()
	defer live.Unlock()
	var hs []*Handler
	for h := range live.handlers {
		if h.backend != nil && h.backend.name == name {
			hs = append(hs, h)
		}
	}
	return hs
}

// revocations answers "is this session dead?" from memory, so the hot path
// never waits on the store.
type revocations struct {
	mu       sync.RWMutex
	sessions map[string]time.Time // sid → when the entry may be dropped
	users    map[string]store.Revocation
}

func newRevocations() *revocations {
	return &revocations{sessions: map[string]time.Time{}, users: map[string]store.Revocation{}}
}

func (rv *revocations) add(r store.Revocation) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if r.SessionID != "" {
		if old, ok := rv.sessions[r.SessionID]; !ok || r.ExpiresAt.After(old) {
			rv.sessions[r.SessionID] = r.ExpiresAt
		}
		return
	}
	old, ok := rv.users[r.User]
	if !ok {
		rv.users[r.User] = r
		return
	}
	// Widen, never narrow: the later NotBefore, kept until the later expiry.
	if r.NotBefore.After(old.NotBefore) {
		old.NotBefore = r.NotBefore
	}
	if r.ExpiresAt.After(old.ExpiresAt) {
		old.ExpiresAt = r.ExpiresAt
	}
	rv.users[r.User] = old
}

// revoked reports whether the session sid of user, created at created, is
// dead.
func (rv *revocations) revoked(sid, user string, created time.Time) bool {
	rv.mu.RLock()
	defer rv.mu.RUnlock()
	if _, ok := rv.sessions[sid]; ok {
		return true
	}
	if r, ok := rv.users[user]; ok && created.Before(r.NotBefore) {
		return true
	}
	return false
}

// sweep drops entries whose tokens have all expired.
func (rv *revocations) sweep(now time.Time) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	for sid, exp := range rv.sessions {
		if !now.Before(exp) {
			delete(rv.sessions, sid)
		}
	}
	for u, r := range rv.users {
		if !now.Before(r.ExpiresAt) {
			delete(rv.users, u)
		}
	}
}
