package boltstore

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

func TestFsyncOn(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "mfa.db"), Options{})
	if s.db.NoSync || s.db.NoGrowSync || s.db.NoFreelistSync {
		t.Fatalf("NoSync=%v NoGrowSync=%v NoFreelistSync=%v, want every sync on", s.db.NoSync, s.db.NoGrowSync, s.db.NoFreelistSync)
	}
}

func TestReopenAfterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mfa.db")
	clock := newFakeClock(t0)
	s := openAt(t, path, Options{Now: clock.Now})
	writeSample(t, s)
	must(t, s.Close())
	checkSample(t, openAt(t, path, Options{Now: clock.Now}))
}

// crashEnv names the file the crash child writes to before killing itself.
const crashEnv = "BOLTSTORE_CRASH_CHILD_PATH"

// TestCrashKeepsWhatWasAcknowledged kills a process right after its writes
// returned, without Close, and finds every write in the file.
func TestCrashKeepsWhatWasAcknowledged(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		s, err := Open(path, Options{Now: func() time.Time { return t0 }})
		must(t, err)
		writeSample(t, s)
		must(t, syscall.Kill(os.Getpid(), syscall.SIGKILL))
		select {} // the signal ends the process
	}
	path := filepath.Join(t.TempDir(), "mfa.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKeepsWhatWasAcknowledged$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
	checkSample(t, openAt(t, path, Options{Now: func() time.Time { return t0 }}))
}

// writeSample stores one record of each kind a restart must keep.
func writeSample(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	must(t, s.SaveFactor(ctx, "alice", store.FactorRecord{ID: "f1", Type: "totp", Secret: []byte("sealed"), CreatedAt: t0}))
	must(t, s.UseStep(ctx, "alice", "f1", 77))
	must(t, s.ReplaceRecoveryCodes(ctx, "alice", [][]byte{[]byte("h1"), []byte("h2")}))
	_, err := s.CountAttempt(ctx, "k", t0, store.LockPolicy{Threshold: 1, Locks: []time.Duration{time.Hour}})
	must(t, err)
	must(t, s.SaveSession(ctx, store.Session{ID: "s1", User: "alice", CreatedAt: t0, ExpiresAt: deadline}))
	must(t, s.Revoke(ctx, store.Revocation{SessionID: "s0", ExpiresAt: deadline}))
	must(t, s.UseOnce(ctx, "once", deadline))
	_, err = s.FirstSeen(ctx, "alice", t0)
	must(t, err)
	must(t, s.SaveDevice(ctx, testDevice("alice", "d1")))
	must(t, s.ParkRequest(ctx, "p1", []byte("sealed request"), deadline))
}

func checkSample(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	if err := s.UseStep(ctx, "alice", "f1", 77); !errors.Is(err, store.ErrReplay) {
		t.Errorf("UseStep of the stored step: %v, want ErrReplay", err)
	}
	if n, err := s.RecoveryCodesLeft(ctx, "alice"); n != 2 || err != nil {
		t.Errorf("RecoveryCodesLeft = %d, %v; want 2", n, err)
	}
	if a, err := s.Attempts(ctx, "k", t0); err != nil || !a.Locked(t0) {
		t.Errorf("Attempts = %+v, %v; want a lock", a, err)
	}
	if ss, err := s.Sessions(ctx, "alice", t0); err != nil || len(ss) != 1 {
		t.Errorf("Sessions = %v, %v; want s1", ss, err)
	}
	if revs, err := s.Revocations(ctx, t0); err != nil || len(revs) != 1 {
		t.Errorf("Revocations = %v, %v; want s0", revs, err)
	}
	if err := s.UseOnce(ctx, "once", deadline); !errors.Is(err, store.ErrReplay) {
		t.Errorf("UseOnce: %v, want ErrReplay", err)
	}
	if at, err := s.FirstSeen(ctx, "alice", deadline); err != nil || !at.Equal(t0) {
		t.Errorf("FirstSeen = %v, %v; want %v", at, err, t0)
	}
	if d, err := s.DeviceByToken(ctx, testDevice("alice", "d1").TokenHash, t0); err != nil || d.ID != "d1" {
		t.Errorf("DeviceByToken = %+v, %v; want d1", d, err)
	}
	if data, err := s.TakeParkedRequest(ctx, "p1", t0); err != nil || string(data) != "sealed request" {
		t.Errorf("TakeParkedRequest = %q, %v; want the parked request", data, err)
	}
}
