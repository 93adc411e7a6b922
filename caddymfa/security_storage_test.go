package caddymfa

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor"
	"github.com/caddymfa/caddy-mfa/caddymfa/factor/recovery"
)

// SECURITY.md items 12, 33 and 38: recovery codes at rest, identity
// headers the gateway does not send, and audit times.

// Recovery codes are kept as keyed hashes (HMAC under a key derived from
// the secret), never as a plain hash anyone holding the store file could
// check guesses against; and regenerating them is one audit event.
func TestRecoveryCodesStoredAsKeyedHashesAndRegenerationAudited(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	c := g.client()
	_, oldCodes, token := c.enrollAPI("alice", "alice-password")
	bearer := []string{"Authorization", "Bearer " + token}

	// Fresh from enrollment: regeneration is allowed and audited once.
	r, m := c.api("POST", "account/recovery_codes", nil, bearer...)
	mustStatus(t, r, http.StatusOK)
	newCodes := toStrings(m["recovery_codes"])
	if len(newCodes) != recovery.DefaultCount {
		t.Fatalf("regeneration gave %d codes, want %d", len(newCodes), recovery.DefaultCount)
	}
	// Stale: refused, and not audited as a regeneration.
	g.clock.Advance(6 * time.Minute)
	if r, m := c.api("POST", "account/recovery_codes", nil, bearer...); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("stale regenerate: %d %v", r.StatusCode, m)
	}

	var regen []map[string]any
	for _, e := range g.auditEvents() {
		if e["event"] == "recovery_codes_regenerated" {
			regen = append(regen, e)
		}
	}
	if len(regen) != 1 {
		t.Fatalf("%d recovery_codes_regenerated audit events, want 1: %v", len(regen), regen)
	}
	e := regen[0]
	if e["user"] != "alice" || e["factor"] != factor.TypeRecoveryCode || e["outcome"] != "success" {
		t.Errorf("recovery_codes_regenerated event has wrong fields: %v", e)
	}
	if e["codes_left"] != float64(len(newCodes)) {
		t.Errorf("codes_left = %v, want %d", e["codes_left"], len(newCodes))
	}
	if ip, _ := e["client_ip"].(string); net.ParseIP(ip) == nil {
		t.Errorf("client_ip %q is not an IP", ip)
	}
	if id, _ := e["request_id"].(string); id == "" {
		t.Errorf("no request_id: %v", e)
	}
	if at, ok := auditTime(e["time"]); !ok || at.Location() != time.UTC {
		t.Errorf("time %v", e["time"])
	}

	if err := caddy.Stop(); err != nil { // flush and release the file
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(g.dir, "mfa.db"))
	if err != nil {
		t.Fatal(err)
	}

	encodings := func(sum []byte) map[string][]byte {
		return map[string][]byte{
			"raw":         sum,
			"hex":         []byte(hex.EncodeToString(sum)),
			"HEX":         []byte(strings.ToUpper(hex.EncodeToString(sum))),
			"base64":      []byte(base64.StdEncoding.EncodeToString(sum)),
			"raw base64":  []byte(base64.RawStdEncoding.EncodeToString(sum)),
			"url base64":  []byte(base64.URLEncoding.EncodeToString(sum)),
			"raw url b64": []byte(base64.RawURLEncoding.EncodeToString(sum)),
		}
	}
	for i, code := range append(append([]string{}, oldCodes...), newCodes...) {
		n, err := recovery.Normalize(code)
		if err != nil {
			t.Fatal(err)
		}
		forms := map[string]string{
			"as shown":   code,
			"normalised": n,
			"upper case": strings.ToUpper(code),
			"no dashes":  strings.ReplaceAll(code, "-", ""),
		}
		for formName, form := range forms {
			plain := sha256.Sum256([]byte(form))
			// HMAC keyed with the master secret itself, not a derived key,
			// is no better than a plain hash once the secret is known:
			// the design derives a per-purpose key.
			mac := hmac.New(sha256.New, []byte(testSecret))
			mac.Write([]byte(form))
			for hashName, sum := range map[string][]byte{"unkeyed sha256": plain[:], "HMAC under the raw secret": mac.Sum(nil)} {
				for encName, needle := range encodings(sum) {
					if bytes.Contains(db, needle) {
						t.Errorf("recovery code #%d: the store file holds the %s (%s) of the code %s", i+1, hashName, encName, formName)
					}
				}
			}
		}
	}

	// Control: the store does hold the current keyed hashes (base64 in
	// the record's JSON), so the file is where codes live and the search
	// above is not vacuous.
	ring := mustRing(t)
	for i, code := range newCodes {
		n, err := recovery.Normalize(code)
		if err != nil {
			t.Fatal(err)
		}
		keyed := ring.KeyedHash(purposeRecovery, []byte(n))
		if !bytes.Contains(db, []byte(base64.StdEncoding.EncodeToString(keyed))) {
			t.Errorf("control failed: the store file lacks the keyed hash of current recovery code %d", i+1)
		}
	}
}

// The plugin writes its own "time" field into every audit event and
// makes it UTC (audit.go). Caddy's default JSON encoder writes times as
// epoch floats, where the zone cannot show; iso8601 keeps the zone of the
// time.Time as given, so a clock in +05:30 shows unless the plugin
// converts to UTC.
func TestAuditTimeFieldIsUTCWhenClockIsNot(t *testing.T) {
	auditLog := filepath.Join(t.TempDir(), "audit.log")
	global := `log mfaaudit {
		output file ` + auditLog + `
		format json {
			time_format iso8601
		}
		include http.handlers.mfa.audit
	}`
	g := startGatewayWith(t, global, defaultMFA(t))
	zone := time.FixedZone("IST", 5*3600+30*60)
	g.clock.mu.Lock()
	g.clock.t = g.clock.t.In(zone)
	g.clock.mu.Unlock()
	if _, off := g.clock.Now().Zone(); off == 0 {
		t.Fatal("the injected clock is in UTC; the test would prove nothing")
	}
	want := g.clock.Now()

	c := g.client()
	c.api("POST", "login", map[string]string{"username": "alice", "password": "wrong"})
	c.enrollAPI("alice", "alice-password")

	data, err := os.ReadFile(auditLog)
	if err != nil {
		t.Fatal(err)
	}
	events := auditEventsIn(string(data))
	for _, e := range events {
		s, ok := e["time"].(string)
		if !ok {
			t.Errorf("%v: time %v (%T) is not an iso8601 string; is time_format applied?", e["event"], e["time"], e["time"])
			continue
		}
		if !strings.HasSuffix(s, "Z") {
			t.Errorf("%v: time %q is not UTC", e["event"], s)
		}
		at, err := time.Parse("2006-01-02T15:04:05.000Z0700", s)
		if err != nil {
			t.Errorf("%v: time %q: %v", e["event"], s, err)
			continue
		}
		if !at.Equal(want) {
			t.Errorf("%v: time %q, want the injected clock %s", e["event"], s, want.UTC().Format(time.RFC3339Nano))
		}
	}
	for _, ev := range []string{"signin", "enrollment"} {
		if !strings.Contains(string(data), `"event":"`+ev+`"`) {
			t.Errorf("no %s audit event in the iso8601 log", ev)
		}
	}
	if len(events) < 3 {
		t.Fatalf("only %d audit events in %s:\n%s", len(events), auditLog, data)
	}
}

// Identity headers the gateway does not set in this config (renamed,
// turned off, or off by default) must still never reach the upstream from
// the client: here no value of the gateway's own would overwrite them, so
// only the stripping keeps them out.
func TestUnsentIdentityHeadersAreStrippedInEverySpelling(t *testing.T) {
	a, _ := userHashes(t)
	g := startGateway(t, `mfa {
		secret `+testSecret+`
		user alice `+a+` {
			email alice@example.com
			name "Alice Doe"
			groups admins dev
		}
		headers {
			user X-Auth-User
			email off
			name off
		}
		store file {STORE}
	}`)
	c := g.client()
	_, _, token := c.enrollAPI("alice", "alice-password")

	// None of these is set by the gateway in this config. (Underscore
	// spellings are in the next test: Caddy drops them by default.)
	unsent := []string{"Remote-User", "Remote-Email", "Remote-Name", "Remote-MFA-Methods", "Remote-Auth-Time", "Remote-MFA-Time"}
	spellings := map[string]func(string) []string{
		"canonical":  func(n string) []string { return []string{http.CanonicalHeaderKey(n), "spoofed"} },
		"as named":   func(n string) []string { return []string{n, "spoofed"} },
		"lower case": func(n string) []string { return []string{strings.ToLower(n), "spoofed"} },
		"upper case": func(n string) []string { return []string{strings.ToUpper(n), "spoofed"} },
		"duplicates": func(n string) []string {
			return []string{n, "spoofed", n, "spoofed-again", strings.ToLower(n), "third"}
		},
	}
	for sname, spell := range spellings {
		t.Run(sname, func(t *testing.T) {
			hdr := []string{"Authorization", "Bearer " + token}
			for _, n := range unsent {
				hdr = append(hdr, spell(n)...)
			}
			before := g.up.count()
			mustStatus(t, c.get("/", hdr...), http.StatusOK)
			if g.up.count() != before+1 {
				t.Fatal("request did not reach upstream")
			}
			seen := g.up.last(t)
			for name, vals := range seen.Header {
				for _, n := range unsent {
					if sameHeaderName(name, n) {
						t.Errorf("upstream got client-sent %s: %q", name, vals)
					}
				}
				for _, v := range vals {
					if strings.HasPrefix(v, "spoofed") || v == "third" {
						t.Errorf("upstream got a spoofed value in %s: %q", name, vals)
					}
				}
			}
			// The gateway's own headers are there, once.
			if got := seen.Header.Values("X-Auth-User"); len(got) != 1 || got[0] != "alice" {
				t.Errorf("X-Auth-User = %q", got)
			}
			if got := seen.Header.Values("Remote-Groups"); len(got) != 1 || got[0] != "admins,dev" {
				t.Errorf("Remote-Groups = %q", got)
			}
		})
	}
}
