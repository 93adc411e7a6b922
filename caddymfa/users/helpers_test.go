package users

import (
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// cheapArgon2 keeps test hashes fast; production hashes come from operators.
var cheapArgon2 = argon2Params{memory: 64, time: 1, threads: 1}

func cheapHash(t testing.TB, password string) string {
	t.Helper()
	h, err := hashArgon2id(password, cheapArgon2)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mustParse(t testing.TB, s string) Hash {
	t.Helper()
	h, err := ParseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

const bcryptPassword = "correct horse battery staple"

// bcrypt10 is generated once: bcrypt is slow under the race detector.
var bcrypt10 = sync.OnceValues(func() (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(bcryptPassword), 10)
	return string(h), err
})

func mustBcrypt10(t testing.TB) string {
	t.Helper()
	h, err := bcrypt10()
	if err != nil {
		t.Fatal(err)
	}
	return h
}
