package storetest

import (
	"bytes"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

func testConcurrency(t *testing.T, h Harness) {
	t0 := wallClock()

	t.Run("RecoveryCodeOnce", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.ReplaceRecoveryCodes(t.Context(), "alice", hashes("a", "b", "c")), "ReplaceRecoveryCodes")
		errs := race(20, func(int) error {
			_, err := s.ConsumeRecoveryCode(t.Context(), "alice", hashes("b"))
			return err
		})
		if ok, _ := tally(t, errs, store.ErrNotFound); ok != 1 {
			t.Fatalf("%d of 20 concurrent uses of one recovery code succeeded, want 1", ok)
		}
		if n := codesLeft(t, s, "alice"); n != 2 {
			t.Fatalf("RecoveryCodesLeft = %d, want 2", n)
		}
	})

	t.Run("StepOnce", func(t *testing.T) {
		s := h.Open(t)
		mustOK(t, s.SaveFactor(t.Context(), "alice", factor("a", t0)), "SaveFactor")
		errs := race(20, func(int) error { return s.UseStep(t.Context(), "alice", "a", 1234) })
		if ok, _ := tally(t, errs, store.ErrReplay); ok != 1 {
			t.Fatalf("%d of 20 concurrent uses of one step succeeded, want 1", ok)
		}
	})

	t.Run("OnceMarker", func(t *testing.T) {
		s := h.Open(t)
		errs := race(20, func(int) error { return s.UseOnce(t.Context(), "k", t0.Add(time.Hour)) })
		if ok, _ := tally(t, errs, store.ErrReplay); ok != 1 {
			t.Fatalf("%d of 20 concurrent UseOnce succeeded, want 1", ok)
		}
	})

	t.Run("AttemptCounter", func(t *testing.T) {
		s := h.Open(t)
		results := make([]store.Attempt, 100)
		errs := race(100, func(i int) error {
			var err error
			results[i], err = s.CountAttempt(t.Context(), "k", t0, defaultPolicy)
			return err
		})
		tally(t, errs, nil)
		allowed, seen := 0, make([]int, 0, 100)
		for _, a := range results {
			if a.Allowed {
				allowed++
			}
			seen = append(seen, a.Failures)
		}
		if allowed != 5 {
			t.Errorf("%d of 100 concurrent attempts allowed, want 5", allowed)
		}
		// Every attempt saw its own count: no update was lost or doubled.
		slices.Sort(seen)
		for i, n := range seen {
			if n != i+1 {
				t.Fatalf("counts seen = %v, want 1…100 once each", seen)
			}
		}
		if a := readAttempts(t, s, "k", t0); a.Failures != 100 || !a.LockedUntil.Equal(t0.Add(m60)) {
			t.Fatalf("Attempts = %+v, want 100 failures locked for 60m", a)
		}
	})

	t.Run("ParkedRequestOnce", func(t *testing.T) {
		s := h.Open(t)
		data := body(64<<10, 9)
		mustOK(t, s.ParkRequest(t.Context(), "p", data, t0.Add(time.Hour)), "ParkRequest")
		got := make([][]byte, 20)
		errs := race(20, func(i int) error {
			var err error
			got[i], err = s.TakeParkedRequest(t.Context(), "p", t0)
			return err
		})
		if ok, _ := tally(t, errs, store.ErrNotFound); ok != 1 {
			t.Fatalf("%d of 20 concurrent takes of one parked request got it, want 1", ok)
		}
		for i, err := range errs {
			if err == nil && !bytes.Equal(got[i], data) {
				t.Fatalf("the winning take got %d bytes, not the %d parked", len(got[i]), len(data))
			}
		}
	})

	t.Run("DeviceReplacedAtOnce", func(t *testing.T) {
		s := h.Open(t)
		hash := func(i int) []byte { return tokenHash("token " + strconv.Itoa(i)) }
		errs := race(20, func(i int) error {
			d := device("alice", "d", t0, t0.Add(time.Hour))
			d.TokenHash = hash(i)
			return s.SaveDevice(t.Context(), d)
		})
		tally(t, errs, nil)
		// Whichever save came last, its hash alone finds the device.
		ds := listDevices(t, s, "alice", t0)
		if len(ds) != 1 {
			t.Fatalf("Devices = %v, want [d]", deviceIDs(ds))
		}
		found := 0
		for i := range 20 {
			d, err := s.DeviceByToken(t.Context(), hash(i), t0)
			if err == nil {
				found++
				checkDevice(t, d, ds[0])
			} else {
				wantIs(t, err, store.ErrNotFound, "DeviceByToken of a replaced hash")
			}
		}
		if found != 1 {
			t.Fatalf("%d of 20 token hashes find the device, want 1", found)
		}
	})

	t.Run("FirstSeenOnce", func(t *testing.T) {
		s := h.Open(t)
		got := make([]time.Time, 20)
		errs := race(20, func(i int) error {
			var err error
			got[i], err = s.FirstSeen(t.Context(), "alice", t0.Add(time.Duration(i)*time.Second))
			return err
		})
		tally(t, errs, nil)
		for _, g := range got {
			if !g.Equal(got[0]) {
				t.Fatalf("concurrent FirstSeen answered %v and %v", got[0], g)
			}
		}
	})
}
