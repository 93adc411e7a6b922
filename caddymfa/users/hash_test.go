package users

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// caddyArgon2id formats a hash exactly as `caddy hash-password --algorithm
// argon2id` does, with Caddy's parameters.
func caddyArgon2id(t *testing.T, password string) string {
	t.Helper()
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, 1, 47104, 1, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, 47104, 1, 1,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func TestParseHashCaddyFormats(t *testing.T) {
	argon := caddyArgon2id(t, bcryptPassword)
	bcr := mustBcrypt10(t)
	tests := []struct {
		name, hash, algorithm string
		tryWrong              bool // bcrypt is slow under -race: once per algorithm
	}{
		{"argon2id", argon, "argon2id", true},
		{"argon2id base64", base64.StdEncoding.EncodeToString([]byte(argon)), "argon2id", false},
		{"bcrypt 2a", bcr, "bcrypt", true},
		{"bcrypt 2b", "$2b$" + bcr[4:], "bcrypt", false},
		{"bcrypt 2y", "$2y$" + bcr[4:], "bcrypt", false},
		{"bcrypt base64", base64.StdEncoding.EncodeToString([]byte(bcr)), "bcrypt", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHash(tt.hash)
			if err != nil {
				t.Fatalf("ParseHash: %v", err)
			}
			if h.Algorithm() != tt.algorithm {
				t.Fatalf("Algorithm = %q, want %q", h.Algorithm(), tt.algorithm)
			}
			if !h.Verify(bcryptPassword) {
				t.Fatal("the right password is refused")
			}
			if tt.tryWrong && h.Verify("Correct horse battery staple") {
				t.Fatal("a wrong password is accepted")
			}
		})
	}
}

// caddyDefaultBcrypt was made by golang.org/x/crypto/bcrypt at cost 14, the
// cost `caddy hash-password` uses, with bcryptPassword. It is a fixture
// because making one takes seconds under the race detector.
const caddyDefaultBcrypt = "$2a$14$aVvqgEgo.g2s4OgKHZSs2edTwLin5zhBH0iO7SHy2zRgCBelauu5."

func TestParseHashBcryptCost14(t *testing.T) {
	for _, s := range []string{caddyDefaultBcrypt, base64.StdEncoding.EncodeToString([]byte(caddyDefaultBcrypt))} {
		h, err := ParseHash(s)
		if err != nil {
			t.Fatalf("ParseHash: %v", err)
		}
		if b, ok := h.(*bcryptHash); !ok || b.cost != 14 {
			t.Fatalf("ParseHash = %#v, want bcrypt of cost 14", h)
		}
	}
}

func TestBcryptLongPassword(t *testing.T) {
	p72 := strings.Repeat("p", 72)
	hash, err := bcrypt.GenerateFromPassword([]byte(p72), 10)
	if err != nil {
		t.Fatal(err)
	}
	p73 := p72 + "x"
	// bcrypt itself ignores bytes past 72: the guard is what refuses p73.
	if bcrypt.CompareHashAndPassword(hash, []byte(p73)) != nil {
		t.Fatal("precondition: x/crypto/bcrypt no longer truncates; revisit the guard")
	}
	h := mustParse(t, string(hash))
	if !h.Verify(p72) {
		t.Fatal("the 72-byte password is refused")
	}
	if h.Verify(p73) {
		t.Fatal("a 73-byte password sharing the first 72 bytes is accepted")
	}
}

func TestParseHashRefuses(t *testing.T) {
	bcr := mustBcrypt10(t)
	low, err := bcrypt.GenerateFromPassword([]byte(bcryptPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cost9 := strings.Replace(string(low), "$04$", "$09$", 1)
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	argon := func(version, params, salt, key string) string {
		return "$argon2id$" + version + "$" + params + "$" + salt + "$" + key
	}
	tests := []struct {
		name, hash, says string
	}{
		{"empty", "", "empty"},
		{"plain text", "hunter2hunter2", "plain-text"},
		{"md5-crypt", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "md5-crypt"},
		{"apache md5", "$apr1$saltsalt$6i3UPJxMCUMpp.LBOB8Lv/", "Apache"},
		{"sha256-crypt", "$5$saltsalt$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZF6oW.WQ3", "sha256-crypt"},
		{"sha512-crypt", "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/", "sha512-crypt"},
		{"ldap sha", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "SHA-1"},
		{"md5 hex", "5f4dcc3b5aa765d61d8327deb882cf99", "MD5"},
		{"sha1 hex", "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", "SHA-1"},
		{"sha256 hex", "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", "SHA-256"},
		{"base64 plain text", base64.StdEncoding.EncodeToString([]byte("password")), "plain-text"},
		{"base64 md5-crypt", base64.StdEncoding.EncodeToString([]byte("$1$saltsalt$qjXMvbEw8oaL.CzflDugX/")), "md5-crypt"},
		{"bcrypt cost 4", string(low), "cost 4"},
		{"bcrypt cost 9", cost9, "cost 9"},
		{"bcrypt cost 31", strings.Replace(bcr, "$10$", "$31$", 1), "cost 31"},
		{"bcrypt 2x", "$2x$" + bcr[4:], "bug"},
		{"bcrypt truncated", bcr[:59], "malformed"},
		{"bcrypt extended", bcr + "A", "malformed"},
		{"bcrypt bad character", bcr[:30] + "!" + bcr[31:], "malformed"},
		{"bcrypt cost not a number", "$2a$1x" + bcr[6:], "malformed"},
		{"argon2i", "$argon2i$v=19$m=65536,t=3,p=4$" + salt + "$" + key, "argon2i"},
		{"argon2d", "$argon2d$v=19$m=65536,t=3,p=4$" + salt + "$" + key, "argon2d"},
		{"argon2id v16", argon("v=16", "m=65536,t=3,p=4", salt, key), "version"},
		{"argon2id no version", "$argon2id$m=65536,t=3,p=4$" + salt + "$" + key, "want"},
		{"argon2id memory over 4 GiB", argon("v=19", "m=4194305,t=1,p=1", salt, key), "memory"},
		{"argon2id memory over uint32", argon("v=19", "m=99999999999,t=1,p=1", salt, key), "decimal"},
		{"argon2id memory under 8 KiB per lane", argon("v=19", "m=31,t=1,p=4", salt, key), "memory"},
		{"argon2id time 101", argon("v=19", "m=65536,t=101,p=1", salt, key), "time"},
		{"argon2id time 0", argon("v=19", "m=65536,t=0,p=1", salt, key), "time"},
		{"argon2id parallelism 0", argon("v=19", "m=65536,t=1,p=0", salt, key), "parallelism"},
		{"argon2id parallelism 256", argon("v=19", "m=65536,t=1,p=256", salt, key), "parallelism"},
		{"argon2id parameters reordered", argon("v=19", "t=1,m=65536,p=1", salt, key), "m=…,t=…,p=…"},
		{"argon2id negative", argon("v=19", "m=-1,t=1,p=1", salt, key), "decimal"},
		{"argon2id extra parameter", argon("v=19", "m=65536,t=1,p=1,keyid=x", salt, key), "m=…,t=…,p=…"},
		{"argon2id short salt", argon("v=19", "m=65536,t=1,p=1", "c2FsdA", key), "salt"},
		{"argon2id padded salt", argon("v=19", "m=65536,t=1,p=1", salt+"==", key), "salt"},
		{"argon2id short key", argon("v=19", "m=65536,t=1,p=1", salt, "a2V5a2V5"), "key"},
		{"argon2id bad base64 key", argon("v=19", "m=65536,t=1,p=1", salt, "!!!!"+key), "key"},
		{"argon2id extra part", argon("v=19", "m=65536,t=1,p=1", salt, key) + "$x", "want"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHash(tt.hash)
			if !errors.Is(err, ErrUnsupportedHash) {
				t.Fatalf("ParseHash = %v, %v; want ErrUnsupportedHash", h, err)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
			if tt.hash != "" && strings.Contains(err.Error(), tt.hash) {
				t.Errorf("error %q echoes the hash", err)
			}
		})
	}
}

func TestHashPassword(t *testing.T) {
	s, err := HashPassword("s3cret passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "$argon2id$v=19$m=47104,t=1,p=1$") {
		t.Fatalf("HashPassword = %q, want Caddy's argon2id defaults", s)
	}
	h := mustParse(t, s)
	if !h.Verify("s3cret passphrase") || h.Verify("s3cret passphrasE") {
		t.Fatal("the hash does not verify its own password only")
	}
	if again, _ := HashPassword("s3cret passphrase"); again == s {
		t.Fatal("two hashes of one password are equal: no fresh salt")
	}
	if _, err := HashPassword(""); err == nil {
		t.Fatal("HashPassword accepted an empty password")
	}
}

func TestFingerprintFollowsThePassword(t *testing.T) {
	a1, _ := HashPassword("one password")
	a2, _ := HashPassword("another password")
	h1, _ := ParseHash(a1)
	h1again, _ := ParseHash(a1)
	h2, _ := ParseHash(a2)
	if string(h1.Fingerprint()) != string(h1again.Fingerprint()) {
		t.Error("the same hash gives different fingerprints")
	}
	if string(h1.Fingerprint()) == string(h2.Fingerprint()) {
		t.Error("a new password keeps the fingerprint")
	}
	if strings.Contains(string(h1.Fingerprint()), "one password") {
		t.Error("fingerprint leaks the password")
	}
}
