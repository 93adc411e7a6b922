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
