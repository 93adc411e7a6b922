package users

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// countVerifications replaces d's verification with one that records each
// hash it checks and still really verifies.
func countVerifications(d *Directory) *[]Hash {
	var seen []Hash
	d.verify = func(h Hash, password string) bool {
		seen = append(seen, h)
		return h.Verify(password)
	}
	return &seen
}

func TestAuthenticate(t *testing.T) {
	alice := User{Name: "alice", Email: "alice@example.com", DisplayName: "Alice Doe", Groups: []string{"admins"}, Hash: mustParse(t, cheapHash(t, "alice pw"))}
	bob := User{Name: "bob", Hash: mustParse(t, cheapHash(t, "bob pw"))}
	d, err := NewDirectory([]User{alice, bob})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, password string
		ok                   bool
	}{
		{"right password", "alice", "alice pw", true},
		{"other user", "bob", "bob pw", true},
		{"wrong password", "alice", "bob pw", false},
		{"empty password", "alice", "", false},
		{"unknown user", "carol", "alice pw", false},
		{"name case differs", "Alice", "alice pw", false},
		{"name with space", "alice ", "alice pw", false},
		{"empty name", "", "alice pw", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := countVerifications(d)
			u, ok, _ := d.Authenticate(t.Context(), tt.user, tt.password)
			if ok != tt.ok {
				t.Fatalf("Authenticate = %v, want %v", ok, tt.ok)
			}
			if len(*seen) != 1 {
				t.Fatalf("%d hash verifications, want exactly 1", len(*seen))
			}
			if ok && u.Name != tt.user {
				t.Fatalf("signed in as %q", u.Name)
			}
			if !ok && u.Name != "" {
				t.Fatalf("a failed sign-in returned user %q", u.Name)
			}
		})
	}
	if u, _, _ := d.Authenticate(t.Context(), "alice", "alice pw"); u.Email != "alice@example.com" || u.DisplayName != "Alice Doe" || len(u.Groups) != 1 {
		t.Fatalf("Authenticate returned %+v", u)
	}
}

// TestUnknownUserVerifiesDummy: an unknown name costs one verification of
// a hash like the costliest user's, which no password matches.
func TestUnknownUserVerifiesDummy(t *testing.T) {
	t.Run("argon2id", func(t *testing.T) {
		first := mustParse(t, "$argon2id$v=19$m=256,t=3,p=2$MDEyMzQ1Njc4OWFi$"+"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY")
		d, err := NewDirectory([]User{{Name: "alice", Hash: first}, {Name: "bob", Hash: mustParse(t, cheapHash(t, "x"))}})
		if err != nil {
			t.Fatal(err)
		}
		seen := countVerifications(d)
		d.Authenticate(t.Context(), "mallory", "guess")
		if len(*seen) != 1 {
			t.Fatalf("%d verifications for an unknown user, want 1", len(*seen))
		}
		dummy, ok := (*seen)[0].(*argon2Hash)
		want := first.(*argon2Hash)
		if !ok || dummy == want || dummy.params != want.params || len(dummy.salt) != len(want.salt) || len(dummy.key) != len(want.key) {
			t.Fatalf("dummy %+v is not an argon2id hash of the costliest user's costs %+v", (*seen)[0], want.params)
		}
	})
	t.Run("bcrypt", func(t *testing.T) {
		first := mustParse(t, caddyDefaultBcrypt)
		d, err := NewDirectory([]User{{Name: "alice", Hash: first}})
		if err != nil {
			t.Fatal(err)
		}
		dummy, ok := d.dummy.(*bcryptHash)
		if !ok || dummy.cost != 14 {
			t.Fatalf("dummy %#v is not a bcrypt hash of cost 14", d.dummy)
		}
		// The dummy must run the full hash: a malformed one would make
		// bcrypt return early, and unknown users would answer faster.
		if _, err := ParseHash(string(dummy.hash)); err != nil {
			t.Fatalf("dummy does not parse: %v", err)
		}
		cheap := &bcryptHash{hash: []byte(string(dummy.hash[:4]) + "10" + string(dummy.hash[6:])), cost: 10}
		if err := bcrypt.CompareHashAndPassword(cheap.hash, []byte("guess")); !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			t.Fatalf("verifying the dummy ends with %v, want a full comparison that mismatches", err)
		}
	})
	t.Run("empty directory", func(t *testing.T) {
		d, err := NewDirectory(nil)
		if err != nil {
			t.Fatal(err)
		}
		if d.Len() != 0 {
			t.Fatalf("Len = %d", d.Len())
		}
		d.dummy = randomArgon2(cheapArgon2, argon2SaltLen, argon2KeyLen) // keep the test fast
		seen := countVerifications(d)
		if _, ok, _ := d.Authenticate(t.Context(), "alice", "pw"); ok {
			t.Fatal("an empty directory signed someone in")
		}
		if len(*seen) != 1 {
			t.Fatalf("%d verifications, want 1", len(*seen))
		}
	})
	t.Run("empty directory defaults", func(t *testing.T) {
		d, err := NewDirectory(nil)
		if err != nil {
			t.Fatal(err)
		}
		if h, ok := d.dummy.(*argon2Hash); !ok || h.params != defaultArgon2 {
			t.Fatalf("dummy %#v, want argon2id with default costs", d.dummy)
		}
	})
	t.Run("foreign hash", func(t *testing.T) {
		d, err := NewDirectory([]User{{Name: "alice", Hash: fixedHash("pw")}})
		if err != nil {
			t.Fatal(err)
		}
		if h, ok := d.dummy.(*argon2Hash); !ok || h.params != defaultArgon2 {
			t.Fatalf("dummy %#v, want argon2id with default costs", d.dummy)
		}
	})
}

type fixedHash string

func (f fixedHash) Verify(p string) bool { return p == string(f) }
func (fixedHash) Algorithm() string      { return "test" }
func (f fixedHash) Fingerprint() []byte  { return []byte(f) }

func TestNewDirectoryRefuses(t *testing.T) {
	h := fixedHash("pw")
	tests := []struct {
		name  string
		users []User
	}{
		{"duplicate", []User{{Name: "alice", Hash: h}, {Name: "bob", Hash: h}, {Name: "alice", Hash: h}}},
		{"empty name", []User{{Name: "", Hash: h}}},
		{"no hash", []User{{Name: "alice"}}},
		{"newline in name", []User{{Name: "alice\nRemote-User: admin", Hash: h}}},
		{"name with surrounding space", []User{{Name: " alice", Hash: h}}},
		{"control character in email", []User{{Name: "alice", Email: "a@b\r\nX: y", Hash: h}}},
		{"invalid utf-8 display name", []User{{Name: "alice", DisplayName: "\xff", Hash: h}}},
		{"comma in group", []User{{Name: "alice", Groups: []string{"admins,root"}, Hash: h}}},
		{"empty group", []User{{Name: "alice", Groups: []string{""}, Hash: h}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewDirectory(tt.users); err == nil {
				t.Fatal("NewDirectory accepted the users")
			}
		})
	}
}

func TestLookup(t *testing.T) {
	d, err := NewDirectory([]User{{Name: "alice", Groups: []string{"admins"}, Hash: fixedHash("pw")}, {Name: "bob", Hash: fixedHash("pw")}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 2 {
		t.Fatalf("Len = %d", d.Len())
	}
	u, ok := d.Lookup("alice")
	if !ok || u.Name != "alice" {
		t.Fatalf("Lookup = %+v, %v", u, ok)
	}
	u.Groups[0] = "root"
	if again, _ := d.Lookup("alice"); again.Groups[0] != "admins" {
		t.Fatal("changing a returned user changed the directory")
	}
	if _, ok := d.Lookup("ALICE"); ok {
		t.Fatal("Lookup ignores case")
	}
	if _, ok := d.Lookup("carol"); ok {
		t.Fatal("Lookup found an unknown user")
	}
}

// However many sign-ins arrive at once, no more password checks run at
// once than the process's slots: each argon2id check holds 46 MiB.
func TestPasswordChecksAreCapped(t *testing.T) {
	hash, err := HashPassword("alice-password")
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHash(hash)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDirectory([]User{{Name: "alice", Hash: h}})
	if err != nil {
		t.Fatal(err)
	}
	var running, most atomic.Int32
	release := make(chan struct{})
	d.verify = func(Hash, string) bool {
		n := running.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		<-release // hold the slot until every caller has had its chance
		running.Add(-1)
		return true
	}
	callers := 2*cap(checkSlots) + 8
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			name := "alice"
			if i%2 == 1 {
				name = "nobody" // unknown users take a slot too
			}
			d.Authenticate(t.Context(), name, "alice-password")
		})
	}
	// Every caller either holds a slot or waits for one.
	for running.Load() < int32(cap(checkSlots)) {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if got := most.Load(); got != int32(cap(checkSlots)) {
		t.Fatalf("%d checks ran at once, want the cap %d", got, cap(checkSlots))
	}
}

// TestUnknownUserDummyIsTheCostliestKind: with users of several algorithms
// and costs, in any order, an unknown name verifies a dummy of the
// costliest kind, never simply of the first user's.
func TestUnknownUserDummyIsTheCostliestKind(t *testing.T) {
	argonDefault := &argon2Hash{params: defaultArgon2, salt: make([]byte, 16), key: make([]byte, 32)}
	argonHeavy := &argon2Hash{params: argon2Params{memory: 64 * 1024, time: 3, threads: 4}, salt: make([]byte, 16), key: make([]byte, 32)}
	bcrypt10 := mustParse(t, mustBcrypt10(t)).(*bcryptHash)
	bcrypt14 := mustParse(t, caddyDefaultBcrypt).(*bcryptHash)
	tests := []struct {
		name   string
		hashes []Hash
		want   Hash // the kind the dummy must have
	}{
		{"argon2id first, bcrypt 14 costlier", []Hash{argonDefault, bcrypt10, bcrypt14}, bcrypt14},
		{"bcrypt 10 first, argon2id costlier", []Hash{bcrypt10, argonHeavy}, argonHeavy},
		{"costliest in the middle", []Hash{argonDefault, argonHeavy, bcrypt10}, argonHeavy},
		{"one kind", []Hash{bcrypt10, bcrypt10}, bcrypt10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var list []User
			for i, h := range tt.hashes {
				list = append(list, User{Name: fmt.Sprintf("user%d", i), Hash: h})
			}
			d, err := NewDirectory(list)
			if err != nil {
				t.Fatal(err)
			}
			var seen []Hash
			d.verify = func(h Hash, _ string) bool { seen = append(seen, h); return false }
			if _, ok, err := d.Authenticate(t.Context(), "mallory", "guess"); ok || err != nil {
				t.Fatalf("unknown user: ok=%v err=%v", ok, err)
			}
			if len(seen) != 1 {
				t.Fatalf("%d verifications for an unknown user, want 1", len(seen))
			}
			got, want := seen[0].(dummyMaker), tt.want.(dummyMaker)
			if got.costKey() != want.costKey() {
				t.Fatalf("dummy is %s, want %s", got.costKey(), want.costKey())
			}
			for _, h := range tt.hashes {
				if seen[0] == h {
					t.Fatal("the dummy is a user's own hash")
				}
			}
		})
	}
}

// TestLongBcryptPasswordStillCompared: a password over 72 bytes is refused
// even when its first 72 bytes are right, after a full comparison against
// the hash (the dummy's, for an unknown user), so it answers no sooner
// than any other.
func TestLongBcryptPasswordStillCompared(t *testing.T) {
	hash := mustParse(t, mustBcrypt10(t))
	d, err := NewDirectory([]User{{Name: "alice", Hash: hash}})
	if err != nil {
		t.Fatal(err)
	}
	type call struct {
		hash     string
		password string
	}
	var calls []call
	t.Cleanup(func() { bcryptCompare = bcrypt.CompareHashAndPassword })
	bcryptCompare = func(h, pw []byte) error {
		calls = append(calls, call{string(h), string(pw)})
		return bcrypt.CompareHashAndPassword(h, pw)
	}
	long := bcryptPassword + strings.Repeat("!", 80-len(bcryptPassword))
	tests := []struct {
		name, user string
		hash       Hash
	}{
		{"known user", "alice", hash},
		{"unknown user", "mallory", d.dummy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls = nil
			if _, ok, _ := d.Authenticate(t.Context(), tt.user, long); ok {
				t.Fatal("an 80-byte password signed in")
			}
			want := call{string(tt.hash.(*bcryptHash).hash), long[:72]}
			if len(calls) != 1 || calls[0] != want {
				t.Fatalf("comparisons %q, want one against %q", calls, want)
			}
		})
	}
}

// TestWaitForCheckSlotEndsWithTheRequest: a sign-in waiting for a check
// slot gives up when its request's context ends, and verifies nothing.
func TestWaitForCheckSlotEndsWithTheRequest(t *testing.T) {
	d, err := NewDirectory([]User{{Name: "alice", Hash: mustParse(t, cheapHash(t, "pw"))}})
	if err != nil {
		t.Fatal(err)
	}
	verified := 0
	d.verify = func(Hash, string) bool { verified++; return true }
	for range cap(checkSlots) {
		checkSlots <- struct{}{}
	}
	t.Cleanup(func() {
		for range cap(checkSlots) {
			<-checkSlots
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, ok, err := d.Authenticate(ctx, "alice", "pw")
	if ok || !errors.Is(err, context.Canceled) || verified != 0 {
		t.Fatalf("ok=%v err=%v verified=%d, want a refusal with context.Canceled and no verification", ok, err, verified)
	}
}
