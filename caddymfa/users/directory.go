package users

import (
	"fmt"
	"runtime"
)

// Directory answers sign-ins against a fixed set of users. It is immutable
// and safe for concurrent use.
type Directory struct {
	byName map[string]User
	// dummy is verified for unknown users, so they cost what known users cost.
	dummy Hash
	// verify checks a password; tests replace it to count verifications.
	verify func(h Hash, password string) bool
}

// dummyMaker is implemented by our hashes: a hash of the same algorithm and
// cost that no password matches.
type dummyMaker interface{ dummy() Hash }

// NewDirectory indexes users by name; duplicate names are refused. An empty
// list is allowed: then every sign-in fails, still after one argon2id
// verification with default costs.
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
	if len(users) > 0 {
		if m, ok := users[0].Hash.(dummyMaker); ok {
			d.dummy = m.dummy()
		}
	}
	if d.dummy == nil {
		d.dummy = randomArgon2(defaultArgon2, argon2SaltLen, argon2KeyLen)
	}
	return d, nil
}

// checkSlots caps the password checks running at once in this process,
// across every directory: an argon2id check at the default cost holds
// 46 MiB, so a burst of sign-ins (or of guesses, before any limit has
// counted them) could otherwise take gigabytes. Two per CPU keeps the CPUs
// busy; the rest wait their turn.
var checkSlots = make(chan struct{}, 2*runtime.GOMAXPROCS(0))

// check runs d.verify in one of the process's check slots.
func (d *Directory) check(h Hash, password string) bool {
	checkSlots <- struct{}{}
	defer func() { <-checkSlots }()
	return d.verify(h, password)
}

// Authenticate returns the user called name if password matches. Names
// match exactly and are case-sensitive: "Alice" is not "alice". For an
// unknown name it verifies password against a dummy hash of the same
// algorithm and cost as the first user's, so known and unknown names take
// the same time.
func (d *Directory) Authenticate(name, password string) (User, bool) {
	u, ok := d.byName[name]
	if !ok {
		d.check(d.dummy, password)
		return User{}, false
	}
	if !d.check(u.Hash, password) {
		return User{}, false
	}
	return u.clone(), true
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
