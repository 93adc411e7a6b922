package boltstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/caddymfa/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) store.Store {
			return openAt(t, filepath.Join(t.TempDir(), "mfa.db"), Options{})
		},
		Reopen: func(t *testing.T, old store.Store) store.Store {
			s := old.(*Store)
			path := s.db.Path()
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openAt(t, path, Options{})
		},
	})
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "caddy-mfa")
	path := filepath.Join(dir, "mfa.db")
	openAt(t, path, Options{})
	for _, c := range []struct {
		path string
		want os.FileMode
	}{
		{dir, os.ModeDir | 0o700},
		{filepath.Dir(dir), os.ModeDir | 0o700},
		{path, 0o600},
	} {
		info, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != c.want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(c.path), info.Mode(), c.want)
		}
	}
}

func TestOpenRefusals(t *testing.T) {
	dir := t.TempDir()
	held := filepath.Join(dir, "held.db")
	openAt(t, held, Options{})
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path string
		want error // nil: any error
	}{
		{"empty path", "", store.ErrInvalid},
		{"file held by another store", held, berrors.ErrTimeout},
		{"not a store file", garbage, nil},
		{"a directory", dir, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(c.path, Options{Timeout: 20 * time.Millisecond})
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Open: %v, want an error wrapping %v", err, c.want)
			}
		})
	}
}

func TestCancelledContext(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "mfa.db"), Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := map[string]func() error{
		"write": func() error { return s.UseOnce(ctx, "k", time.Now().Add(time.Hour)) },
		"read":  func() error { _, err := s.Factors(ctx, "alice"); return err },
		"scan":  func() error { _, err := s.Revocations(ctx, time.Now()); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: %v, want context.Canceled and not ErrUnavailable", name, err)
		}
	}
	if err := s.UseOnce(t.Context(), "k", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("the cancelled UseOnce left a marker behind: %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "mfa.db"), Options{SweepEvery: time.Hour})
	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
}
