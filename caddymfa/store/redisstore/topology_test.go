package redisstore

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/caddymfa/store/storetest"
	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// runConformance runs the conformance suite on stores whose clients come
// from newClient.
func runConformance(t *testing.T, newClient func(t *testing.T) redis.UniversalClient) {
	open := func(t *testing.T, prefix string) store.Store {
		s := New(newClient(t), Options{Prefix: prefix, OwnClient: true})
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) store.Store { return open(t, uniquePrefix()) },
		Reopen: func(t *testing.T, old store.Store) store.Store {
			s := old.(*Store)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, s.keys.prefix)
		},
	})
}

// The conformance suite on a real Redis Cluster of three masters, through
// the universal client the gateway makes from several addresses: every
// script's keys must share a hash slot, or Redis refuses it (CROSSSLOT).
func TestConformanceOnCluster(t *testing.T) {
	addrs := testenv.StartRedisCluster(t)
	runConformance(t, func(t *testing.T) redis.UniversalClient {
		c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs})
		if _, ok := c.(*redis.ClusterClient); !ok {
			t.Fatalf("several addresses without a master name made a %T, want a cluster client", c)
		}
		return c
	})
}

// The conformance suite through a real Sentinel: the client asks it for
// the master, as the gateway does with addresses and a master_name.
func TestConformanceThroughSentinel(t *testing.T) {
	sentinel, _ := testenv.StartRedisSentinel(t, "mfa-main")
	runConformance(t, func(*testing.T) redis.UniversalClient {
		return redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{sentinel}, MasterName: "mfa-main"})
	})
}

// On a cluster, a revocation made through one client reaches a watcher on
// another, whichever node each talks to.
func TestFeedOnCluster(t *testing.T) {
	addrs := testenv.StartRedisCluster(t)
	prefix := uniquePrefix()
	open := func(nodes []string) *Store {
		s := New(redis.NewUniversalClient(&redis.UniversalOptions{Addrs: nodes}), Options{Prefix: prefix, OwnClient: true})
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	// Each instance knows the cluster by a different first node.
	a := open([]string{addrs[0], addrs[1], addrs[2]})
	b := open([]string{addrs[2], addrs[0], addrs[1]})
	w := watch(t, a)
	t0 := wallClock()
	for _, id := range []string{"s1", "s2", "s3"} {
		must(t, b.Revoke(t.Context(), store.Revocation{SessionID: id, User: "alice", ExpiresAt: t0.Add(time.Hour)}))
		if got := w.next(t); got.SessionID != id {
			t.Fatalf("delivered %+v, want %s", got, id)
		}
	}
	revs, err := a.Revocations(t.Context(), t0)
	must(t, err)
	if len(revs) != 3 {
		t.Fatalf("Revocations on the cluster = %d, want 3", len(revs))
	}
}
