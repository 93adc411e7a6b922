package redisstore

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// patience bounds every wait for the feed. It is a safety net against a
// hang, not a measurement: the figures are logged.
const patience = 10 * time.Second

// watcher records what a feed delivers.
type watcher struct {
	revs    chan store.Revocation
	resyncs atomic.Int32
}

func watch(t *testing.T, s *Store) *watcher {
	t.Helper()
	w := &watcher{revs: make(chan store.Revocation, 100)}
	must(t, s.WatchRevocations(t.Context(), func(r store.Revocation) { w.revs <- r }, func() { w.resyncs.Add(1) }))
	return w
}

func (w *watcher) next(t *testing.T) store.Revocation {
	t.Helper()
	select {
	case r := <-w.revs:
		return r
	case <-time.After(patience):
		t.Fatalf("no revocation delivered within %v", patience)
		return store.Revocation{}
	}
}

// eventually polls cond until it holds, failing after patience.
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

func TestFeedDeliversRevocationsFromAnotherInstance(t *testing.T) {
	addr := testenv.Redis(t)
	prefix := uniquePrefix()
	a, b := openStore(t, addr, prefix, Options{}), openStore(t, addr, prefix, Options{})
	w := watch(t, a)
	if !a.Connected() {
		t.Fatal("Connected is false after WatchRevocations returned")
	}
	t0 := wallClock()
	steps := []struct {
		name string
		r    store.Revocation
		want store.Revocation // as delivered: widened by what is stored
	}{
		{"session", store.Revocation{SessionID: "s1", User: "alice", ExpiresAt: t0.Add(time.Hour)},
			store.Revocation{SessionID: "s1", User: "alice", ExpiresAt: t0.Add(time.Hour)}},
		{"user", store.Revocation{User: "bob", NotBefore: t0, ExpiresAt: t0.Add(2 * time.Hour)},
			store.Revocation{User: "bob", NotBefore: t0, ExpiresAt: t0.Add(2 * time.Hour)}},
		{"narrower repeat is widened", store.Revocation{User: "bob", NotBefore: t0.Add(-time.Hour), ExpiresAt: t0.Add(time.Hour)},
			store.Revocation{User: "bob", NotBefore: t0, ExpiresAt: t0.Add(2 * time.Hour)}},
		{"separators in the ID", store.Revocation{SessionID: "a:b,c\n1:", ExpiresAt: t0.Add(time.Hour)},
			store.Revocation{SessionID: "a:b,c\n1:", ExpiresAt: t0.Add(time.Hour)}},
	}
	for _, st := range steps {
		start := time.Now()
		must(t, b.Revoke(t.Context(), st.r))
		got := w.next(t)
		t.Logf("%s: delivered %v after Revoke was called", st.name, time.Since(start))
		if got.SessionID != st.want.SessionID || got.User != st.want.User ||
			!got.NotBefore.Equal(st.want.NotBefore) || !got.ExpiresAt.Equal(st.want.ExpiresAt) {
			t.Errorf("%s: delivered %+v, want %+v", st.name, got, st.want)
		}
	}
	must(t, b.Revoke(t.Context(), store.Revocation{SessionID: "old", ExpiresAt: t0.Add(-time.Second)}))
	must(t, b.Revoke(t.Context(), store.Revocation{SessionID: "s2", ExpiresAt: t0.Add(time.Hour)}))
	if got := w.next(t); got.SessionID != "s2" {
		t.Errorf("delivered %+v, want s2: a revocation already over is not published", got)
	}
}

// A watcher survives its server going away: it reports the loss, and when
// the server is back it resubscribes, asks for a resync, and delivers
// again, all by itself.
func TestFeedRecoversAfterServerRestart(t *testing.T) {
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	prefix := uniquePrefix()
	a, b := openStore(t, srv.Addr(), prefix, Options{}), openStore(t, srv.Addr(), prefix, Options{})
	w := watch(t, a)
	t0 := wallClock()

	srv.Stop()
	lost := eventually(t, "Connected turns false once the server is gone", func() bool { return !a.Connected() })
	t.Logf("loss noticed after %v", lost)
	if n := w.resyncs.Load(); n != 0 {
		t.Fatalf("resync called %d times before the server came back", n)
	}

	srv.Start()
	back := eventually(t, "the watcher resubscribes", a.Connected)
	t.Logf("resubscribed %v after the restart", back)
	if n := w.resyncs.Load(); n != 1 {
		t.Fatalf("resync called %d times after one reconnect, want 1", n)
	}
	must(t, b.Revoke(t.Context(), store.Revocation{SessionID: "after", ExpiresAt: t0.Add(time.Hour)}))
	if got := w.next(t); got.SessionID != "after" {
		t.Fatalf("delivered %+v after the restart, want session after", got)
	}
}

func TestFeedStopsWithItsContextAndWithClose(t *testing.T) {
	addr := testenv.Redis(t)
	s := openStore(t, addr, uniquePrefix(), Options{})
	ctx, cancel := context.WithCancel(t.Context())
	must(t, s.WatchRevocations(ctx, func(store.Revocation) {}, func() {}))
	cancel()
	eventually(t, "the watcher ends with its context", func() bool { return !s.Connected() })

	must(t, s.WatchRevocations(t.Context(), func(store.Revocation) {}, func() {}))
	start := time.Now()
	must(t, s.Close()) // waits for the watcher
	t.Logf("Close with a watcher took %v", time.Since(start))
	if s.Connected() {
		t.Fatal("Connected after Close")
	}
}

// A connection that goes silent (a partition, a hung proxy) sends no EOF;
// the watcher notices by its unanswered ping and recovers the same way.
func TestFeedNoticesASilentConnection(t *testing.T) {
	p := newFreezingProxy(t, testenv.Redis(t))
	s := openStore(t, p.addr(), uniquePrefix(), Options{})
	s.pingEvery = 100 * time.Millisecond
	w := watch(t, s)

	p.freeze(true)
	lost := eventually(t, "Connected turns false on a silent connection", func() bool { return !s.Connected() })
	t.Logf("silence noticed after %v (ping every %v)", lost, s.pingEvery)
	p.freeze(false)
	back := eventually(t, "the watcher resubscribes once traffic flows", s.Connected)
	t.Logf("resubscribed %v after traffic resumed", back)
	if n := w.resyncs.Load(); n != 1 {
		t.Fatalf("resync called %d times, want 1", n)
	}
}

// freezingProxy forwards TCP to a server until frozen; then it holds
// every byte, in both directions and on new connections, as a dead link
// that never resets would.
type freezingProxy struct {
	l      net.Listener
	mu     sync.Mutex
	frozen bool
	thaw   chan struct{}
}

func newFreezingProxy(t *testing.T, target string) *freezingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &freezingProxy{l: l, thaw: make(chan struct{})}
	t.Cleanup(func() { _ = l.Close(); p.freeze(false) })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			go p.pipe(in, out)
			go p.pipe(out, in)
		}
	}()
	return p
}

func (p *freezingProxy) addr() string { return p.l.Addr().String() }

func (p *freezingProxy) freeze(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on && !p.frozen {
		p.thaw = make(chan struct{})
	}
	if !on && p.frozen {
		close(p.thaw)
	}
	p.frozen = on
}

func (p *freezingProxy) wait() {
	p.mu.Lock()
	frozen, thaw := p.frozen, p.thaw
	p.mu.Unlock()
	if frozen {
		<-thaw
	}
}

func (p *freezingProxy) pipe(from, to net.Conn) {
	defer from.Close()
	defer to.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			p.wait()
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
