package caddymfa

import (
	"sync"
	"sync/atomic"
	"time"
)

// A session token that verified is remembered, so the client's next
// requests skip the signature check and the JSON decoding. A hit is the
// exact token that verified (the whole raw token is the key), and it is
// checked against the clock and the audience as the parser would check it;
// revocation and the absolute lifetime are checked by checkSession on
// every request, hit or miss.

const (
	sessionCacheShards = 32
	// sessionCacheSize bounds the entries of one handler (about 1.7 KB
	// each, 14 MB when full): a cookie is re-signed at most once a minute,
	// so this holds the current token of some thousands of active clients.
	sessionCacheSize = 8192
)

// cachedSession is one verified token.
type cachedSession struct {
	raw string
	s   session // as parseSession returned it; s.cached points back here
	// The token is good while notBefore <= now < notAfter: iat and exp
	// with the parser's leeway.
	notBefore time.Time
	notAfter  time.Time
	// used gives an entry a second chance at eviction.
	used atomic.Bool
	// ident is what setIdentity hands upstream, worked out on first use.
	ident atomic.Pointer[preparedIdentity]
}

// fresh reports whether the token is within its validity at now.
func (e *cachedSession) fresh(now time.Time) bool {
	return !now.Before(e.notBefore) && now.Before(e.notAfter)
}

type sessionCache struct {
	perShard int
	shards   [sessionCacheShards]sessionShard
}

type sessionShard struct {
	mu sync.RWMutex
	m  map[string]*cachedSession
	// Pads the shard (24-byte lock, map pointer) to a cache line of its
	// own, so readers of one shard do not slow down those of another.
	_ [32]byte
}

func newSessionCache(size int) *sessionCache {
	c := &sessionCache{perShard: max(1, size/sessionCacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*cachedSession)
	}
	return c
}

// shard picks a shard from the token's last bytes: for a token of ours
// they are its signature, which nobody without the key can choose.
func (c *sessionCache) shard(raw string) *sessionShard {
	var h uint32 = 2166136261
	for i := max(0, len(raw)-8); i < len(raw); i++ {
		h = (h ^ uint32(raw[i])) * 16777619
	}
	return &c.shards[h%sessionCacheShards]
}

// get returns the entry for raw, nil if none.
func (c *sessionCache) get(raw string) *cachedSession {
	sh := c.shard(raw)
	sh.mu.RLock()
	e := sh.m[raw]
	sh.mu.RUnlock()
	if e != nil && !e.used.Load() {
		e.used.Store(true)
	}
	return e
}

// cacheHit is a lookup for a cookie walk (cookieNames.scan's known): it
// keeps the entry it found, for parseSessionHit.
type cacheHit struct {
	c *sessionCache
	e *cachedSession // of the last token asked about; nil if not cached
}

func (h *cacheHit) known(raw string) bool {
	h.e = h.c.get(raw)
	return h.e != nil
}

// has reports whether raw is in the cache.
func (c *sessionCache) has(raw string) bool {
	sh := c.shard(raw)
	sh.mu.RLock()
	_, ok := sh.m[raw]
	sh.mu.RUnlock()
	return ok
}

// put remembers e, making room in a full shard first.
func (c *sessionCache) put(e *cachedSession, now time.Time) {
	sh := c.shard(e.raw)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[e.raw]; !ok && len(sh.m) >= c.perShard {
		sh.evict(now, max(1, c.perShard/4))
	}
	e.used.Store(true) // about to be used: not the first to go
	sh.m[e.raw] = e
}

// evict drops at least n entries: expired ones and those not used since
// the last eviction pass (CLOCK's second chance), in map order, which Go
// randomises.
func (sh *sessionShard) evict(now time.Time, n int) {
	for pass := 0; pass < 2 && n > 0; pass++ {
		for k, e := range sh.m {
			if n == 0 {
				return
			}
			if !now.Before(e.notAfter) || !e.used.Swap(false) {
				delete(sh.m, k)
				n--
			}
		}
	}
}

// len counts the entries (tests).
func (c *sessionCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
