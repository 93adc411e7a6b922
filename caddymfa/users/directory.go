package users

import (
	"context"
	"fmt"
	"runtime"
)

// Directory answers sign-ins against a fixed set of users. It is immutable
// and safe for concurrent use.
type Directory struct {
	byName map[string]User
	// dummy is verified for unknown users, so they cost what known users
	// cost: the costliest of the kinds of hash in use.
	dummy Hash
	// verify checks a password; tests replace it to count verifications.
	verify func(h Hash, password string) bool
}

// dummyMaker is implemented by our hashes: a hash of the same algorithm and
// cost that no password matches, the parameters that make two hashes cost
// the same, and an estimate of the work one verification takes.
type dummyMaker interface {
	dummy() Hash
	costKey() string
	work() float64
}

// NewDirectory indexes users by name; duplicate names are refused. An empty
// list is allowed: then every sign-in fails, still after one argon2id
// verification with default costs.
//
// With users of several algorithms or costs, an unknown name verifies a
// dummy of the costliest kind present: it never answers faster than a
// known name, so a fast answer never says "no such user". Known users of a
// cheaper kind still answer faster than unknown ones; one algorithm and
// cost for everyone closes that too.
func NewDirectory(users []User) (*Directory, error) {
	d := &Directory{
		byName: make(map[string]User, len(users)),
		verify: func(h Hash, password string) bool { return h.Verify(password) },
	}
	for i, u := range users {
		if err := u.validate(); err != nil {
			return nil, fmt.Errorf("users: user #%d %q: %w", i+1, u.Name, err)
		}
		if _, dup := d.byName[u.Name]; dup {
			return nil, fmt.Errorf("users: user %q is defined twice", u.Name)
		}
		d.byName[u.Name] = u.clone()
	}
	d.dummy = costliestDummy(users)
	if d.dummy == nil {
		d.dummy = randomArgon2(defaultArgon2, argon2SaltLen, argon2KeyLen)
	}
	return d, nil
}

// costliestDummy makes a dummy for each kind of hash (algorithm and
// parameters) among users, in their order, and returns the one whose
// verification takes the most work; nil without users.
func costliestDummy(users []User) Hash {
	seen := map[string]bool{}
	var best Hash
	var bestWork float64
	for _, u := range users {
		m, ok := u.Hash.(dummyMaker)
		if !ok || seen[m.costKey()] {
			continue
		}
		seen[m.costKey()] = true
		if best == nil || m.work() > bestWork {
			best, bestWork = m.dummy(), m.work()
		}
	}
	return best
}

// checkSlots caps the password checks running at once in this process,
// across every directory: an argon2id check at the default cost holds
// 46 MiB, so a burst of sign-ins (or of guesses, before any limit has
// counted them) could otherwise take gigabytes. Two per CPU keeps the CPUs
// busy; the rest wait their turn, as long as their request lasts.
var checkSlots = make(chan struct{}, 2*runtime.GOMAXPROCS(0))

// check runs d.verify in one of the process's check slots. A caller whose
// ctx ends while it waits gives up with ctx's error, so clients that went
// away do not queue work.
func (d *Directory) check(ctx context.Context, h Hash, password string) (bool, error) {
	select {
	case checkSlots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-checkSlots }()
	return d.verify(h, password), nil
}

// Authenticate returns the user called name if password matches. Names
// match exactly and are case-sensitive: "Alice" is not "alice". For an
// unknown name it verifies password against a dummy hash (see
// NewDirectory), so unknown names never answer faster than known ones.
// The error is ctx's, when it ended before a check slot was free; then
// nothing was verified.
func (d *Directory) Authenticate(ctx context.Context, name, password string) (User, bool, error) {
	u, known := d.byName[name]
	h := u.Hash
	if !known {
		h = d.dummy
	}
	ok, err := d.check(ctx, h, password)
	if err != nil || !known || !ok {
		return User{}, false, err
	}
	return u.clone(), true, nil
}

// Lookup returns the user called name (exact, case-sensitive match), as
// after a first factor established by another handler.
func (d *Directory) Lookup(name string) (User, bool) {
	u, ok := d.byName[name]
	if !ok {
		return User{}, false
	}
	return u.clone(), true
}

// Len is the number of users.
func (d *Directory) Len() int { return len(d.byName) }
