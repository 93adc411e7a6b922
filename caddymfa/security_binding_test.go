package caddymfa

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// SECURITY.md items 3, 10 and 28: what binds a session, a sealed secret
// and a trusted device to their user.

// With identity_from, a session holds only while the earlier handler
// vouches for the same user: erin's session cookie sent with frank's
// basic-auth credentials is challenged and never reaches the upstream.
func TestIdentityFromSessionRefusedForAnotherVouchedUser(t *testing.T) {
	erinHash, _ := bcrypt.GenerateFromPassword([]byte("erin-password"), bcrypt.MinCost)
	frankHash, _ := bcrypt.GenerateFromPassword([]byte("frank-password"), bcrypt.MinCost)
	g := startGateway(t, fmt.Sprintf(`basic_auth {
		erin %s
		frank %s
	}
	mfa {
		secret %s
		identity_from {http.auth.user.id}
		store file {STORE}
	}`, erinHash, frankHash, testSecret))
	c := g.client()
	erin := []string{"Authorization", basicAuth("erin", "erin-password")}
	frank := []string{"Authorization", basicAuth("frank", "frank-password")}

	// erin enrolls and gets a full session cookie.
	c.enrollBehindBasicAuth(erin)
	// Control: the session works with erin's credentials.
	mustStatus(t, c.get("/", erin...), http.StatusOK)
	if got := g.up.last(t).Header.Get("Remote-User"); got != "erin" {
		t.Fatalf("Remote-User = %q, want erin", got)
	}

	// The same cookie with frank's credentials: challenged, nothing proxied.
	before := g.up.count()
	for _, accept := range []string{"text/html", "application/json"} {
		r := c.get("/", append([]string{"Accept", accept}, frank...)...)
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("erin's session with frank's basic auth (%s): status %d, want 401", accept, r.StatusCode)
		}
	}
	if n := g.up.count(); n != before {
		t.Errorf("upstream got %d request(s) for erin's session under frank's credentials; last Remote-User %q",
			n-before, g.up.last(t).Header.Get("Remote-User"))
	}
	// erin's own credentials still work with the cookie.
	mustStatus(t, c.get("/", erin...), http.StatusOK)
}

// An admin reset removes the user's trusted devices: after it (and a new
// enrollment) the old device_token no longer skips the second factor, and
// the reset reports the device it removed.
func TestAdminResetRemovesTrustedDevices(t *testing.T) {
	og := startOpsGateway(t, policyMFA(t, "trusted_device 30d"), opsOptions{admin: true})
	c := og.client()
	secret, _, _ := c.enrollAPI("alice", "alice-password")
	og.clock.Advance(time.Minute)
	tok := c.loginAPI("alice", "alice-password")
	r, m := c.api("POST", "verify", map[string]any{"mfa_token": tok, "code": codeAt(t, secret, og.clock.Now()), "remember_device": true})
	mustStatus(t, r, http.StatusOK)
	device, _ := m["device_token"].(string)
	if device == "" {
		t.Fatalf("no device_token: %v", m)
	}
	deviceLogin := func() (response, map[string]any) {
		return og.client().api("POST", "login", map[string]string{"username": "alice", "password": "alice-password", "device_token": device})
	}
	// Control: the device skips the code before the reset.
	r, m = deviceLogin()
	if r.StatusCode != http.StatusOK || m["status"] != "authenticated" {
		t.Fatalf("device login before reset: %d %v", r.StatusCode, m)
	}

	done := og.adminJSON("POST", "/mfa/users/alice/reset", http.StatusOK)
	if done["devices_removed"] != float64(1) {
		t.Errorf("reset answer devices_removed = %v, want 1: %v", done["devices_removed"], done)
	}

	// alice enrolls again; the old device must not stand in for her code.
	og.clock.Advance(2 * time.Second)
	c.enrollAPI("alice", "alice-password")
	og.clock.Advance(time.Minute)
	r, m = deviceLogin()
	if r.StatusCode == http.StatusOK || m["status"] == "authenticated" {
		t.Fatalf("the device trusted before the reset still skips the second factor: %d %v", r.StatusCode, m)
	}
	if r.StatusCode != http.StatusAccepted || m["status"] != "mfa_required" {
		t.Errorf("device login after reset: %d %v, want 202 mfa_required", r.StatusCode, m)
	}
}

// Factor secrets are sealed with the user id as associated data: alice's
// sealed secret copied into bob's factor record does not open for bob, so
// a code from alice's authenticator does not sign bob in.
func TestSealedFactorSecretIsBoundToItsUser(t *testing.T) {
	g := startGateway(t, defaultMFA(t))
	aliceSecret, _, _ := g.client().enrollAPI("alice", "alice-password")
	g.client().enrollAPI("bob", "bob-password")

	ctx := t.Context()
	b := g.backendFor(t)
	af, err := b.Factors(ctx, "alice")
	if err != nil || len(af) != 1 {
		t.Fatalf("alice's factors: %v %v", af, err)
	}
	bf, err := b.Factors(ctx, "bob")
	if err != nil || len(bf) != 1 {
		t.Fatalf("bob's factors: %v %v", bf, err)
	}
	swapped := bf[0]
	swapped.Secret = append([]byte(nil), af[0].Secret...)
	if err := b.SaveFactor(ctx, "bob", swapped); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Factors(ctx, "bob"); len(got) != 1 || got[0].ID != bf[0].ID || !bytes.Equal(got[0].Secret, af[0].Secret) {
		t.Fatalf("bob's factor after the copy: %+v", got)
	}

	g.clock.Advance(time.Minute) // a step neither enrollment spent
	c := g.client()
	tok := c.loginAPI("bob", "bob-password")
	r, m := c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": codeAt(t, aliceSecret, g.clock.Now())})
	if r.StatusCode == http.StatusOK || m["status"] == "authenticated" || m["access_token"] != nil {
		t.Fatalf("bob signed in with a code of alice's secret copied into his record: %d %v", r.StatusCode, m)
	}
	if r.StatusCode != http.StatusUnauthorized || m["error"] != "invalid_code" {
		t.Errorf("refusal: %d %v, want 401 invalid_code", r.StatusCode, m)
	}

	// Control: alice's own record still opens for alice.
	g.clock.Advance(time.Minute)
	ac := g.client()
	tok = ac.loginAPI("alice", "alice-password")
	r, m = ac.api("POST", "verify", map[string]string{"mfa_token": tok, "code": codeAt(t, aliceSecret, g.clock.Now())})
	if r.StatusCode != http.StatusOK || m["status"] != "authenticated" {
		t.Errorf("alice with her own code: %d %v", r.StatusCode, m)
	}
}
