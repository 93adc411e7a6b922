package redisstore

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// Revoke publishes every revocation it stores on the channel
// <prefix>revocations; watchers subscribe to it. Pub/sub is fire and
// forget: what is published while a watcher is disconnected is lost, so
// after every reconnect the watcher calls resync and its caller reloads
// Revocations.

// Timing of the watcher. A silent connection (no reply to a ping) is
// given up after two ping intervals; a dropped one at once.
const (
	pingEvery       = 5 * time.Second
	subscribeWithin = 5 * time.Second
	minBackoff      = 50 * time.Millisecond
	maxBackoff      = time.Second
)

var errNoPong = errors.New("revocation feed: no answer to ping")

// WatchRevocations subscribes to the revocation channel and returns once
// the subscription is confirmed (or failed). From then on, until ctx ends
// or the store is closed, fn gets every revocation stored by any process,
// and after a lost connection is restored, resync is called before
// anything else is delivered. fn and resync run on the watcher's
// goroutine, one at a time.
func (s *Store) WatchRevocations(ctx context.Context, fn func(store.Revocation), resync func()) error {
	const op = "watch revocations"
	if err := s.usable(op); err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	stopWithStore := context.AfterFunc(s.stop, cancel)
	ps, err := s.subscribe(wctx)
	if err != nil {
		stopWithStore()
		cancel()
		return failed(op, err)
	}
	s.watchers.Add(1)
	s.feedUp.Add(1)
	go func() {
		defer s.watchers.Done()
		defer cancel()
		defer stopWithStore()
		s.watch(wctx, ps, fn, resync)
	}()
	return nil
}

// Connected reports whether a watcher is subscribed now, with its resync
// done: while it is false, revocations made elsewhere may be missed.
// Callers that must fail closed refuse sessions meanwhile.
func (s *Store) Connected() bool { return s.feedUp.Load() > 0 }

// subscribe opens a subscription and waits for Redis to confirm it.
func (s *Store) subscribe(ctx context.Context) (*redis.PubSub, error) {
	ps := s.client.Subscribe(ctx, s.keys.channel())
	cctx, cancel := context.WithTimeout(ctx, subscribeWithin)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() }) // as in pump
	defer stop()
	for {
		msg, err := ps.Receive(cctx)
		if err != nil {
			_ = ps.Close()
			return nil, err
		}
		if _, ok := msg.(*redis.Subscription); ok {
			return ps, nil
		}
	}
}

// watch delivers revocations until ctx ends, replacing a lost
// subscription with a new one. A fresh PubSub per connection (rather than
// go-redis's silent resubscribe) is what tells it when to resync.
func (s *Store) watch(ctx context.Context, ps *redis.PubSub, fn func(store.Revocation), resync func()) {
	for {
		_ = s.pump(ctx, ps, fn, resync)
		_ = ps.Close()
		s.feedUp.Add(-1)
		backoff := minBackoff
		for {
			if !sleep(ctx, backoff) {
				return
			}
			var err error
			if ps, err = s.subscribe(ctx); err == nil {
				break
			}
			backoff = min(2*backoff, maxBackoff)
		}
		resync()
		s.feedUp.Add(1)
	}
}

// pump reads the subscription until it fails or ctx ends. A message it
// cannot read may have been a revocation: resync covers it.
func (s *Store) pump(ctx context.Context, ps *redis.PubSub, fn func(store.Revocation), resync func()) error {
	// go-redis does not abort a blocked read when ctx ends; closing does.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, s.pingEvery)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return err
			}
			if pinged {
				return errNoPong
			}
			if err := ps.Ping(ctx); err != nil {
				return err
			}
			pinged = true
			continue
		}
		pinged = false
		if m, ok := msg.(*redis.Message); ok {
			if r, err := decodeMessage(m.Payload); err == nil {
				fn(r)
			} else {
				resync()
			}
		}
	}
}

// sleep waits d or until ctx ends, reporting whether it slept in full.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
