package users

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// User is one built-in user. Its fields end up in the identity headers sent
// upstream (Remote-User, Remote-Email, Remote-Name, Remote-Groups).
type User struct {
	Name        string
	Email       string
	DisplayName string
	Groups      []string
	Hash        Hash
}

const maxNameLen = 256

// validate refuses values that cannot travel safely in a header: control
// characters, invalid UTF-8, commas inside a group (Remote-Groups is a
// comma-separated list). The error names the field.
func (u User) validate() error {
	switch {
	case u.Name == "":
		return errors.New("empty user name")
	case len(u.Name) > maxNameLen:
		return fmt.Errorf("user name longer than %d bytes", maxNameLen)
	case strings.TrimSpace(u.Name) != u.Name:
		return errors.New("user name starts or ends with a space")
	case !printable(u.Name):
		return errors.New("user name: control character or invalid UTF-8")
	case u.Hash == nil:
		return errors.New("field password: missing")
	case !printable(u.Email):
		return errors.New("field email: control character or invalid UTF-8")
	case !printable(u.DisplayName):
		return errors.New("field display_name: control character or invalid UTF-8")
	}
	for _, g := range u.Groups {
		switch {
		case g == "" || strings.TrimSpace(g) != g:
			return errors.New("field groups: empty group name or surrounding spaces")
		case strings.Contains(g, ","):
			return errors.New("field groups: a group name contains a comma")
		case !printable(g):
			return errors.New("field groups: control character or invalid UTF-8")
		}
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return strings.IndexFunc(s, unicode.IsControl) < 0
}

// clone copies Groups, so callers cannot change a Directory's users.
func (u User) clone() User {
	u.Groups = append([]string(nil), u.Groups...)
	return u
}
