package caddymfa

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

// Self-service actions that make several store writes, with one of them
// failing: the user's retry finishes the job.

// flakyStore fails the next failRevoke calls of Revoke.
type flakyStore struct {
	store.Store
	failRevoke atomic.Int32
}

var errFlaky = errors.New("store unavailable (injected)")

func (f *flakyStore) Revoke(ctx context.Context, r store.Revocation) error {
	if f.failRevoke.Add(-1) >= 0 {
		return errFlaky
	}
	return f.Store.Revoke(ctx, r)
}

// flakyHandler is a handler on a real file store behind a flakyStore,
// with its audit events observed.
func flakyHandler(t *testing.T) (*Handler, *flakyStore, *observer.ObservedLogs) {
	t.Helper()
	h := newBenchHandler(t, nil)
	f := &flakyStore{Store: h.backend.Store}
	h.backend.Store = f
	core, logs := observer.New(zapcore.InfoLevel)
	h.audit = zap.New(core)
	return h, f, logs
}

func accountRequest(method, route string) *http.Request {
	return httptest.NewRequest(method, "http://"+benchHost+"/_mfa/api/v1/account/"+route, nil)
}

// TestForgetDeviceRetryEndsItsSessions: a store failure while the
// sessions of a forgotten device are ended leaves the device in place, so
// the retry ends them, forgets it and records the event once.
func TestForgetDeviceRetryEndsItsSessions(t *testing.T) {
	h, f, logs := flakyHandler(t)
	ctx := context.Background()
	_, d, err := h.devices.Issue(ctx, "alice", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	r := accountRequest("DELETE", "devices/"+d.ID)
	s, _, err := h.startSession(ctx, r, newSession{User: "alice", AuthTime: h.now(), AMR: []string{"pwd", amrDevice}, DeviceID: d.ID})
	if err != nil {
		t.Fatal(err)
	}

	f.failRevoke.Store(1)
	if err := h.revokeDevice(ctx, r, "alice", d.ID); !isStatus(err, http.StatusServiceUnavailable) {
		t.Fatalf("forgetting the device with the store failing: %v, want 503", err)
	}
	if err := h.revokeDevice(ctx, r, "alice", d.ID); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if !h.backend.revoked.revoked(s.SID, s.User, s.AuthTime) {
		t.Error("the session the device started is alive")
	}
	if left, err := h.backend.Devices(ctx, "alice", h.now()); err != nil || len(left) != 0 {
		t.Errorf("devices left: %v %v", left, err)
	}
	if n := logs.FilterMessage("device_revoked").Len(); n != 1 {
		t.Errorf("%d device_revoked events, want 1", n)
	}
}

// isStatus reports whether err is an API error answered with status.
func isStatus(err error, status int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == status
}

// resettable gives alice n authenticators, recovery codes, a trusted
// device and a session fresh enough to remove a factor with.
func resettable(t *testing.T, h *Handler, n int) (session, []string) {
	t.Helper()
	ctx := context.Background()
	for range n {
		enrollBench(t, h, "alice")
	}
	if _, err := h.newRecoveryCodes(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.devices.Issue(ctx, "alice", "laptop"); err != nil {
		t.Fatal(err)
	}
	s, _, err := h.startSession(ctx, accountRequest("GET", ""), newSession{
		User: "alice", AuthTime: h.now(), AMR: []string{"pwd", "otp", "mfa"}, MFAFactor: "totp",
	})
	if err != nil {
		t.Fatal(err)
	}
	active, err := h.activeFactors(ctx, "alice")
	if err != nil || len(active) != n {
		t.Fatalf("factors: %v %v", active, err)
	}
	var ids []string
	for _, f := range active {
		ids = append(ids, f.ID)
	}
	return s, ids
}

// checkReset fails t unless alice is left with nothing a factor vouched
// for: no factor, recovery code, trusted device or session.
func checkReset(t *testing.T, h *Handler) {
	t.Helper()
	ctx := context.Background()
	active, err := h.activeFactors(ctx, "alice")
	if err != nil || len(active) != 0 {
		t.Fatalf("factors left: %v %v", active, err)
	}
	if n, err := h.backend.RecoveryCodesLeft(ctx, "alice"); err != nil || n != 0 {
		t.Errorf("recovery codes left: %d %v", n, err)
	}
	if d, err := h.backend.Devices(ctx, "alice", h.now()); err != nil || len(d) != 0 {
		t.Errorf("trusted devices left: %d %v", len(d), err)
	}
	if s, err := h.backend.Sessions(ctx, "alice", h.now()); err != nil || len(s) != 0 {
		t.Errorf("sessions left: %d %v", len(s), err)
	}
}

// TestRemovingLastFactorsConcurrentlyResets: two removals of the last two
// factors at once each see the other factor, yet once both are gone the
// reset has run.
func TestRemovingLastFactorsConcurrentlyResets(t *testing.T) {
	for round := range 5 {
		h := newBenchHandler(t, nil)
		s, ids := resettable(t, h, 2)
		errs := make(chan error, len(ids))
		for _, id := range ids {
			go func() { errs <- h.removeFactor(context.Background(), accountRequest("DELETE", "factors/"+id), s, id) }()
		}
		for range ids {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: removing a factor: %v", round, err)
			}
		}
		checkReset(t, h)
	}
}

// TestRemovingLastFactorRetryFinishesReset: the reset after the last
// factor went fails on the store; the factor is gone, and the retry
// finishes the reset rather than answer 404.
func TestRemovingLastFactorRetryFinishesReset(t *testing.T) {
	h, f, _ := flakyHandler(t)
	s, ids := resettable(t, h, 1)
	r := accountRequest("DELETE", "factors/"+ids[0])
	f.failRevoke.Store(1)
	if err := h.removeFactor(context.Background(), r, s, ids[0]); !isStatus(err, http.StatusServiceUnavailable) {
		t.Fatalf("removing the last factor with the store failing: %v, want 503", err)
	}
	if err := h.removeFactor(context.Background(), r, s, ids[0]); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	checkReset(t, h)
	if !h.backend.revoked.revoked(s.SID, s.User, s.AuthTime) {
		t.Error("the session that removed the factor is alive")
	}
	// A factor that never was still gets a 404 while another is active.
	enrollBench(t, h, "alice")
	if err := h.removeFactor(context.Background(), r, s, "no-such-factor"); !isStatus(err, http.StatusNotFound) {
		t.Errorf("removing an unknown factor: %v, want 404", err)
	}
}
