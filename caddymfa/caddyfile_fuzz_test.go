package caddymfa

import (
	"encoding/json"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// FuzzCaddyfile: any text inside `mfa { … }` is read into a config or
// refused with an error; it never panics, and what is read encodes as
// JSON.
func FuzzCaddyfile(f *testing.F) {
	for _, seed := range []string{
		"secret abc\nuser alice $argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA {\n\temail a@example.com\n\tname \"Alice Doe\"\n\tgroups a b\n}",
		"users_file /etc/users.yml\nidentity_from {http.auth.user.id}\nstore file /tmp/x.db",
		"store redis://localhost:6379\nfactors totp recovery_code\nenforce enrolled",
		"session_lifetime 12h\nsession_idle 30m\nprefix /_mfa/\nissuer \"Example Corp\"\ncookie_domain example.com",
		"headers {\n\tuser X-User\n\tgroups off\n\tbogus x\n}",
		"lockout {\n\tthreshold 5\n\tdurations 5m 15m 1h\n\tmax_failures 100\n\tip_threshold 20\n\tforget 24h\n}",
		"branding {\n\ttitle T\n\tlogo /logo.png\n\tcolor \"#0a7\"\n}\ntemplates /tmp",
		"max_body 64KiB\nkeep_body off\ntrusted_device 30d\nenrollment_grace 7d",
		"step_up /admin* {\n\tmax_age 5m\n}\nbypass /health",
		"step_up {\n\tpath /admin*\n\tmax_age 5m\n\tfactors totp\n}",
		"lockout {\n\tthreshold -1\n\tdurations\n}",
		"user\nsecret\nstore\nfactors",
		"}\n}\n{",
		"max_body 99999999999999999999999EiB",
		"session_idle 9999999999999999999h",
		"headers {\n\tuser\n}",
		"store file a b c",
		"user a b {\n\tgroups\n\temail\n}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		tokens, err := caddyfile.Tokenize([]byte("mfa {\n"+body+"\n}"), "Caddyfile")
		if err != nil {
			return
		}
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
			return
		}
		if _, err := json.Marshal(h); err != nil {
			t.Fatalf("config read from %q does not encode: %v", body, err)
		}
	})
}
