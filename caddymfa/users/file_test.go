package users

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseGoodFile(t *testing.T) {
	aliceHash := cheapHash(t, "alice pw")
	bobHash := cheapHash(t, "bob pw")
	data := `# built-in users
users:
  zoe:
    password: "` + bobHash + `"
  alice:
    password: "` + aliceHash + `"
    email: alice@example.com
    display_name: Alice Doe
    groups: [admins, dev]
  bob:
    password: ` + bobHash + `
    email: ~
    groups:
      - dev
`
	users, err := Parse([]byte(data), "users.yml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	if strings.Join(names, ",") != "zoe,alice,bob" {
		t.Fatalf("users %v, want file order zoe,alice,bob", names)
	}
	alice := users[1]
	if alice.Email != "alice@example.com" || alice.DisplayName != "Alice Doe" || strings.Join(alice.Groups, ",") != "admins,dev" {
		t.Fatalf("alice = %+v", alice)
	}
	if alice.Hash.Algorithm() != "argon2id" || !alice.Hash.Verify("alice pw") || alice.Hash.Verify("bob pw") {
		t.Fatal("alice's hash does not verify her password only")
	}
	if users[2].Email != "" || strings.Join(users[2].Groups, ",") != "dev" {
		t.Fatalf("bob = %+v", users[2])
	}
	if _, err := NewDirectory(users); err != nil {
		t.Fatalf("NewDirectory of a parsed file: %v", err)
	}
}

func TestParseBadHashWraps(t *testing.T) {
	_, err := Parse([]byte("users:\n  alice:\n    password: \"$1$saltsalt$qjXMvbEw8oaL.CzflDugX/\"\n"), "users.yml")
	if !errors.Is(err, ErrUnsupportedHash) {
		t.Fatalf("error %v does not wrap ErrUnsupportedHash", err)
	}
}

func TestParseEmptyUsers(t *testing.T) {
	for _, data := range []string{"users:\n", "users: {}\n"} {
		users, err := Parse([]byte(data), "users.yml")
		if err != nil || len(users) != 0 {
			t.Fatalf("Parse(%q) = %v, %v; want no users", data, users, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	hash := cheapHash(t, "pw")
	md5crypt := "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/"
	tests := []struct {
		name string
		data string
		says []string // each must appear in the error
	}{
		{"empty file", "", []string{"users.yml", "empty"}},
		{"only a comment", "# nothing\n", []string{"users.yml", "empty"}},
		{"not yaml", "users: [\n", []string{"users.yml"}},
		{"top level list", "- alice\n", []string{"users.yml", "line 1", "mapping"}},
		{"unknown top-level field", "users: {}\nuser: {}\n", []string{"users.yml", "line 2", `"user"`}},
		{"no users key", "{}\n", []string{"users.yml", "users"}},
		{"users twice", "users: {}\nusers: {}\n", []string{"users.yml", "line 2", "twice"}},
		{"users is a list", "users:\n  - alice\n", []string{"users.yml", "line 2", "mapping"}},
		{"unknown field", "users:\n  alice:\n    password: " + hash + "\n    pasword: x\n", []string{"users.yml", "line 4", `"alice"`, `"pasword"`}},
		{"missing password", "users:\n  alice:\n    email: a@example.com\n", []string{"users.yml", "line 2", `"alice"`, "password", "required"}},
		{"empty user", "users:\n  alice:\n", []string{"users.yml", `"alice"`, "mapping"}},
		{"duplicate user", "users:\n  alice:\n    password: " + hash + "\n  bob:\n    password: " + hash + "\n  alice:\n    password: " + hash + "\n", []string{"users.yml", "line 6", `"alice"`, "line 2"}},
		{"duplicate field", "users:\n  alice:\n    password: " + hash + "\n    password: " + hash + "\n", []string{"users.yml", "line 4", "password", "twice"}},
		{"bad hash", "users:\n  alice:\n    password: \"" + md5crypt + "\"\n", []string{"users.yml", "line 3", `"alice"`, "password", "md5-crypt"}},
		{"plain-text password", "users:\n  alice:\n    password: hunter2\n", []string{"users.yml", `"alice"`, "password", "plain-text"}},
		{"password list", "users:\n  alice:\n    password: [a, b]\n", []string{"users.yml", `"alice"`, "password", "string"}},
		{"groups string", "users:\n  alice:\n    password: " + hash + "\n    groups: admins\n", []string{"users.yml", "line 4", "groups", "list"}},
		{"nested group", "users:\n  alice:\n    password: " + hash + "\n    groups: [[a]]\n", []string{"users.yml", "groups", "list"}},
		{"comma in group", "users:\n  alice:\n    password: " + hash + "\n    groups: [\"a,b\"]\n", []string{"users.yml", `"alice"`, "comma"}},
		{"null user name", "users:\n  ~:\n    password: " + hash + "\n", []string{"users.yml", "line 2", "user name"}},
		{"empty user name", "users:\n  \"\":\n    password: " + hash + "\n", []string{"users.yml", "line 2", "user name"}},
		{"two documents", "users: {}\n---\nusers: {}\n", []string{"users.yml", "document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, err := Parse([]byte(tt.data), "users.yml")
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", users)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %s", err, s)
				}
			}
			for _, secret := range []string{hash, md5crypt, "hunter2"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q quotes a password or hash", err)
				}
			}
		})
	}
}

// TestParseNeverQuotesHash: a hash in the wrong place must not end up in
// the error (and then in Caddy's log), as a YAML type error would quote it.
func TestParseNeverQuotesHash(t *testing.T) {
	hash := cheapHash(t, "pw")
	for _, data := range []string{
		"users:\n  alice:\n    password: " + hash + "\n    groups: " + hash + "\n",
		"users:\n  alice: " + hash + "\n",
		"users: " + hash + "\n",
		"users:\n  alice:\n    password:\n      - " + hash + "\n",
	} {
		_, err := Parse([]byte(data), "users.yml")
		if err == nil {
			t.Fatalf("Parse accepted %q", data)
		}
		if strings.Contains(err.Error(), hash) || strings.Contains(err.Error(), hash[len(hash)-20:]) {
			t.Fatalf("error %q quotes the hash", err)
		}
	}
}

func TestParseAlias(t *testing.T) {
	hash := cheapHash(t, "pw")
	data := "users:\n  alice:\n    password: &h " + hash + "\n    groups: &g [dev]\n  bob:\n    password: *h\n    groups: *g\n"
	users, err := Parse([]byte(data), "users.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || !users[1].Hash.Verify("pw") || users[1].Groups[0] != "dev" {
		t.Fatalf("users = %+v", users)
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mfa-users.yml")
	if err := os.WriteFile(path, []byte("users:\n  alice:\n    password: "+cheapHash(t, "pw")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	users, err := LoadFile(path)
	if err != nil || len(users) != 1 || users[0].Name != "alice" {
		t.Fatalf("LoadFile = %+v, %v", users, err)
	}

	if err := os.WriteFile(path, []byte("users:\n  alice:\n    pasword: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("LoadFile error %v does not name the file", err)
	}

	missing := filepath.Join(t.TempDir(), "absent.yml")
	if _, err := LoadFile(missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("LoadFile of a missing file: %v", err)
	}
}
