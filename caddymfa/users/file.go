package users

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

// LoadFile reads a YAML users file; see Parse.
func LoadFile(path string) ([]User, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return Parse(data, path)
}

// Parse reads a YAML users file, in file order:
//
//	users:
//	  alice:
//	    password: "$argon2id$…"
//	    email: alice@example.com
//	    display_name: Alice Doe
//	    groups: [admins, dev]
//
// password is required; unknown fields, duplicate users and refused hashes
// are errors naming source, the user, the field and the line.
//
// The document is walked as yaml.Node rather than decoded with KnownFields,
// so that an error can name the user, and so that no decoding error ever
// quotes a value (a misplaced hash would otherwise appear in it).
func Parse(data []byte, source string) ([]User, error) {
	fail := func(line int, format string, args ...any) error {
		return fmt.Errorf("users file %s: line %d: "+format, append([]any{source, line}, args...)...)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("users file %s: empty", source)
		}
		return nil, fmt.Errorf("users file %s: %w", source, err)
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("users file %s: more than one YAML document", source)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("users file %s: empty", source)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fail(root.Line, "want a mapping with the key users")
	}
	var list *yaml.Node
	for i := 0; i < len(root.Content); i += 2 {
		key := root.Content[i]
		if key.Value != "users" {
			return nil, fail(key.Line, "unknown field %q (only users is allowed at the top)", key.Value)
		}
		if list != nil {
			return nil, fail(key.Line, "users is set twice")
		}
		list = resolve(root.Content[i+1])
	}
	if list == nil {
		return nil, fail(root.Line, "missing field users")
	}
	if isNull(list) {
		return []User{}, nil
	}
	if list.Kind != yaml.MappingNode {
		return nil, fail(list.Line, "users: want a mapping of user name to fields")
	}

	users := make([]User, 0, len(list.Content)/2)
	lines := map[string]int{}
	for i := 0; i < len(list.Content); i += 2 {
		key, value := list.Content[i], resolve(list.Content[i+1])
		if key.Kind != yaml.ScalarNode || isNull(key) {
			return nil, fail(key.Line, "a user name must be a non-empty string")
		}
		name := key.Value
		if first, dup := lines[name]; dup {
			return nil, fail(key.Line, "user %q is already defined on line %d", name, first)
		}
		lines[name] = key.Line
		u, line, err := parseUser(name, value)
		if err != nil {
			if line == 0 {
				line = key.Line
			}
			return nil, fail(line, "user %q: %w", name, err)
		}
		if err := u.validate(); err != nil {
			return nil, fail(key.Line, "user %q: %v", name, err)
		}
		users = append(users, u)
	}
	return users, nil
}

// parseUser reads one user's fields; on error it also returns the line to
// blame, 0 for the user's own line.
func parseUser(name string, n *yaml.Node) (User, int, error) {
	u := User{Name: name}
	if n.Kind != yaml.MappingNode {
		return u, n.Line, errors.New("want a mapping of fields (password, email, display_name, groups)")
	}
	seen := map[string]bool{}
	for i := 0; i < len(n.Content); i += 2 {
		key, value := n.Content[i], resolve(n.Content[i+1])
		field := key.Value
		if seen[field] {
			return u, key.Line, fmt.Errorf("field %s is set twice", field)
		}
		seen[field] = true
		var err error
		switch field {
		case "password":
			var s string
			if s, err = scalar(value); err == nil {
				u.Hash, err = ParseHash(s)
			}
		case "email":
			u.Email, err = scalar(value)
		case "display_name":
			u.DisplayName, err = scalar(value)
		case "groups":
			u.Groups, err = stringList(value)
		default:
			return u, key.Line, fmt.Errorf("unknown field %q (want password, email, display_name, groups)", field)
		}
		if err != nil {
			return u, value.Line, fmt.Errorf("field %s: %w", field, err)
		}
	}
	if u.Hash == nil {
		return u, 0, errors.New("field password is required")
	}
	return u, 0, nil
}

func scalar(n *yaml.Node) (string, error) {
	switch {
	case isNull(n):
		return "", nil
	case n.Kind != yaml.ScalarNode:
		return "", errors.New("want a string")
	}
	return n.Value, nil
}

func stringList(n *yaml.Node) ([]string, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errors.New("want a list of strings")
	}
	out := make([]string, 0, len(n.Content))
	for _, item := range n.Content {
		item = resolve(item)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			return nil, errors.New("want a list of strings")
		}
		out = append(out, item.Value)
	}
	return out, nil
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}
