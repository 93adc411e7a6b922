package caddymfa

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// adminJSON calls the admin API and decodes its answer.
func (og *opsGateway) adminJSON(method, path string, want int) map[string]any {
	og.t.Helper()
	r := og.adminCall(method, path)
	if r.StatusCode != want {
		og.t.Fatalf("%s %s: %d, want %d: %s", method, path, r.StatusCode, want, r.Body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		og.t.Fatalf("%s %s: %q is not JSON", method, path, r.Body)
	}
	return m
}

func (og *opsGateway) lastAudit(event string) map[string]any {
	og.t.Helper()
	var found map[string]any
	for _, e := range og.auditEvents() {
		if e["event"] == event {
			found = e
		}
	}
	if found == nil {
		og.t.Fatalf("no %s audit event", event)
	}
	return found
}

func TestAdminResetUnlocksHardLockedUserAndEndsSessions(t *testing.T) {
	for _, kind := range []string{"file", "redis"} {
		t.Run(kind, func(t *testing.T) {
			site := defaultMFA(t)
			if kind == "redis" {
				site = strings.Replace(site, "store file {STORE}", "store redis://"+testenv.Redis(t)+"/0 {\n\t\t\tprefix admin:\n\t\t}", 1)
			}
			og := startOpsGateway(t, site, opsOptions{admin: true})
			c := og.client()
			secret, codes, token := c.enrollAPI("alice", "alice-password")

			// 100 wrong codes reach the hard cap: after the time locks only a
			// recovery code would help.
			og.clock.Advance(time.Minute)
			tok := c.loginAPI("alice", "alice-password")
			for range 100 {
				c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": "000000"})
			}
			og.clock.Advance(2 * time.Hour)
			tok = c.loginAPI("alice", "alice-password")
			r, m := c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": codeAt(t, secret, og.clock.Now())})
			if r.StatusCode != http.StatusTooManyRequests || m["error"] != "account_locked" {
				t.Fatalf("not hard-locked: %d %v", r.StatusCode, m)
			}

			info := og.adminCall("GET", "/mfa/users/alice")
			mustStatus(t, info, http.StatusOK)
			if strings.Contains(info.Body, secret) || strings.Contains(info.Body, `"secret"`) || strings.Contains(info.Body, codes[0]) {
				t.Fatalf("the admin API shows a secret: %s", info.Body)
			}
			var user adminUser
			if err := json.Unmarshal([]byte(info.Body), &user); err != nil {
				t.Fatal(err)
			}
			if len(user.Factors) != 1 || user.Factors[0].Type != "totp" || user.Factors[0].ID == "" || user.Factors[0].Created.IsZero() {
				t.Errorf("factors: %+v", user.Factors)
			}
			if user.RecoveryCodesLeft != len(codes) || !user.SecondFactor.HardLocked || user.SecondFactor.Failures < 100 || user.ActiveSessions < 1 {
				t.Errorf("before reset: %s", info.Body)
			}

			done := og.adminJSON("POST", "/mfa/users/alice/reset", http.StatusOK)
			if done["factors_removed"] != float64(1) || done["recovery_codes_removed"] != float64(len(codes)) || done["sessions_revoked"].(float64) < 1 {
				t.Errorf("reset answer: %v", done)
			}
			// Every session of alice ends at once, and the next sign-in enrolls.
			mustStatus(t, og.client().get("/", "Authorization", "Bearer "+token, "Accept", "application/json"), http.StatusUnauthorized)
			r, m = c.api("POST", "login", map[string]string{"username": "alice", "password": "alice-password"})
			if r.StatusCode != http.StatusAccepted || m["status"] != "enrollment_required" {
				t.Fatalf("login after reset: %d %v", r.StatusCode, m)
			}
			after := og.adminJSON("GET", "/mfa/users/alice", http.StatusOK)
			if len(after["factors"].([]any)) != 0 || after["recovery_codes_left"] != float64(0) || after["active_sessions"] != float64(0) {
				t.Errorf("after reset: %v", after)
			}
			if sf := after["second_factor"].(map[string]any); sf["failures"] != float64(0) || sf["hard_locked"] != false {
				t.Errorf("counter after reset: %v", sf)
			}

			e := og.lastAudit("admin_reset")
			if e["user"] != "alice" || e["outcome"] != "success" || e["client_ip"] == "" || e["request_id"] != done["request_id"] || e["factors_removed"] != float64(1) {
				t.Errorf("audit event: %v", e)
			}

			// The new enrollment gives a working session (sessions begun after
			// the reset's second are not covered).
			og.clock.Advance(2 * time.Second)
			_, _, fresh := c.enrollAPI("alice", "alice-password")
			mustStatus(t, og.client().get("/", "Authorization", "Bearer "+fresh), http.StatusOK)
			mustStatus(t, og.client().get("/", "Authorization", "Bearer "+token, "Accept", "application/json"), http.StatusUnauthorized)
		})
	}
}

// Tokens carry whole seconds: a session that began in the second of the
// reset, before it, must end too.
func TestAdminResetEndsASessionOfTheSameSecond(t *testing.T) {
	og := startOpsGateway(t, defaultMFA(t), opsOptions{admin: true})
	c := og.client()
	_, _, token := c.enrollAPI("alice", "alice-password")
	og.adminJSON("POST", "/mfa/users/alice/reset", http.StatusOK)
	mustStatus(t, og.client().get("/", "Authorization", "Bearer "+token, "Accept", "application/json"), http.StatusUnauthorized)
	og.clock.Advance(time.Second)
	_, _, fresh := c.enrollAPI("alice", "alice-password")
	mustStatus(t, og.client().get("/", "Authorization", "Bearer "+fresh), http.StatusOK)
}

func TestAdminUnlockLiftsALock(t *testing.T) {
	og := startOpsGateway(t, defaultMFA(t), opsOptions{admin: true})
	c := og.client()
	secret, _, _ := c.enrollAPI("alice", "alice-password")
	og.clock.Advance(time.Minute)
	tok := c.loginAPI("alice", "alice-password")
	for range 6 {
		c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": "000000"})
	}
	r, _ := c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": codeAt(t, secret, og.clock.Now())})
	mustStatus(t, r, http.StatusTooManyRequests)
	sf := og.adminJSON("GET", "/mfa/users/alice", http.StatusOK)["second_factor"].(map[string]any)
	if sf["locked"] != true || sf["locked_until"] == nil || sf["hard_locked"] != false {
		t.Errorf("lock state: %v", sf)
	}

	done := og.adminJSON("POST", "/mfa/users/alice/unlock", http.StatusOK)
	r, _ = c.api("POST", "verify", map[string]string{"mfa_token": tok, "code": codeAt(t, secret, og.clock.Now())})
	mustStatus(t, r, http.StatusOK)
	e := og.lastAudit("admin_unlock")
	if e["user"] != "alice" || e["outcome"] != "success" || e["request_id"] != done["request_id"] || e["client_ip"] == "" {
		t.Errorf("audit event: %v", e)
	}
}

func TestAdminAPIRefusesBadRequests(t *testing.T) {
	og := startOpsGateway(t, defaultMFA(t), opsOptions{admin: true})
	cases := []struct {
		method, path string
		status       int
	}{
		{"GET", "/mfa/users/" + strings.Repeat("a", maxUsername+1), http.StatusBadRequest},
		{"GET", "/mfa/users/a%00b", http.StatusBadRequest},
		{"GET", "/mfa/users/a%0Ab", http.StatusBadRequest},
		{"GET", "/mfa/users/%zz", http.StatusBadRequest},
		{"GET", "/mfa/users/%FF", http.StatusBadRequest},
		{"GET", "/mfa/users/", http.StatusBadRequest},
		{"POST", "/mfa/users/alice", http.StatusMethodNotAllowed},
		{"GET", "/mfa/users/alice/unlock", http.StatusMethodNotAllowed},
		{"DELETE", "/mfa/users/alice/reset", http.StatusMethodNotAllowed},
		{"POST", "/mfa/users/alice/delete", http.StatusNotFound},
		{"GET", "/mfa/users/alice/unlock/x", http.StatusNotFound},
		{"GET", "/mfa/stores", http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path[:min(len(tc.path), 40)], func(t *testing.T) {
			if r := og.adminCall(tc.method, tc.path); r.StatusCode != tc.status {
				t.Errorf("%d, want %d: %s", r.StatusCode, tc.status, r.Body)
			}
		})
	}
	// A name is one path segment: an escaped slash is part of it.
	if m := og.adminJSON("GET", "/mfa/users/team%2Falice", http.StatusOK); m["user"] != "team/alice" {
		t.Errorf("user = %v", m["user"])
	}
	for _, e := range og.auditEvents() {
		if strings.HasPrefix(e["event"].(string), "admin_") {
			t.Errorf("a refused call was recorded as an action: %v", e)
		}
	}
}

func TestAdminAPIWithSeveralStoresNeedsStoreParameter(t *testing.T) {
	a, b := userHashes(t)
	second := freePort(t)
	og := startOpsGateway(t, defaultMFA(t), opsOptions{admin: true, sites: fmt.Sprintf(`
http://localhost:%d {
	mfa {
		secret %s
		user alice %s
		user bob %s
		store file {STORE}-second
	}
	respond "second"
}`, second, testSecret, a, b)})
	og.client().enrollAPI("alice", "alice-password")
	first, other := "file:"+og.dir+"/mfa.db", "file:"+og.dir+"/mfa.db-second"

	r := og.adminCall("GET", "/mfa/users/alice")
	mustStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.Body, first) || !strings.Contains(r.Body, other) {
		t.Errorf("the error does not list the stores: %s", r.Body)
	}
	if m := og.adminJSON("GET", "/mfa/users/alice?store="+first, http.StatusOK); len(m["factors"].([]any)) != 1 {
		t.Errorf("first store: %v", m)
	}
	if m := og.adminJSON("GET", "/mfa/users/alice?store="+other, http.StatusOK); len(m["factors"].([]any)) != 0 {
		t.Errorf("second store: %v", m)
	}
	mustStatus(t, og.adminCall("POST", "/mfa/users/alice/reset?store=file:/nonexistent"), http.StatusNotFound)
}

func TestStoreNameMasksPasswords(t *testing.T) {
	for key, want := range map[string]string{
		"file:/var/lib/caddy/mfa.db":          "file:/var/lib/caddy/mfa.db",
		"redis:redis://:hunter2@cache:6379/0": "redis:redis://:xxxxx@cache:6379/0",
		"redis://user:hunter2@cache:6379":     "redis://user:xxxxx@cache:6379",
		"redis:rediss://cache:6380":           "redis:rediss://cache:6380",
	} {
		if got := storeName(key); got != want {
			t.Errorf("storeName(%q) = %q, want %q", key, got, want)
		}
	}
}

// A Redis store is picked by its address, db and prefix, as written on
// every instance; the internal pool key is no name to type.
func TestAdminAPIPicksARedisStoreByName(t *testing.T) {
	addr := testenv.Redis(t)
	site := strings.Replace(defaultMFA(t), "store file {STORE}", "store redis://"+addr+"/0 {\n\t\t\tprefix named:\n\t\t}", 1)
	og := startOpsGateway(t, site, opsOptions{admin: true})
	og.client().enrollAPI("alice", "alice-password")
	name := "redis:" + addr + "/0:named:"
	if m := og.adminJSON("GET", "/mfa/users/alice?store="+name, http.StatusOK); m["store"] != name || len(m["factors"].([]any)) != 1 {
		t.Errorf("by name: %v", m)
	}
	r := og.adminCall("GET", "/mfa/users/alice?store=redis:elsewhere")
	mustStatus(t, r, http.StatusNotFound)
	if !strings.Contains(r.Body, name) {
		t.Errorf("the error does not list %q: %s", name, r.Body)
	}
}

// Sites on the same Redis data whose connection settings differ have a
// backend each, and are still one store to the admin API: one name, listed
// once, and a reset through it works.
func TestAdminAPIOneStoreForBackendsOnTheSameData(t *testing.T) {
	addr := testenv.Redis(t)
	a, b := userHashes(t)
	site := strings.Replace(defaultMFA(t), "store file {STORE}", "store redis://"+addr+"/0", 1)
	sites := ""
	for _, store := range []string{"store redis://" + addr + "/0 {\n\t\t\tpool_size 5\n\t\t}", "store file {STORE}-other"} {
		sites += fmt.Sprintf(`
http://localhost:%d {
	mfa {
		secret %s
		user alice %s
		user bob %s
		%s
	}
	respond "other"
}`, freePort(t), testSecret, a, b, store)
	}
	og := startOpsGateway(t, site, opsOptions{admin: true, sites: sites})
	og.client().enrollAPI("alice", "alice-password")
	name := "redis:" + addr + "/0:mfa:"

	r := og.adminCall("GET", "/mfa/users/alice")
	mustStatus(t, r, http.StatusBadRequest)
	if n := strings.Count(r.Body, name); n != 1 {
		t.Errorf("the error lists %q %d times: %s", name, n, r.Body)
	}
	if m := og.adminJSON("GET", "/mfa/users/alice?store="+name, http.StatusOK); m["store"] != name || len(m["factors"].([]any)) != 1 {
		t.Errorf("by name: %v", m)
	}
	og.adminJSON("POST", "/mfa/users/alice/reset?store="+name, http.StatusOK)
	if m := og.adminJSON("GET", "/mfa/users/alice?store="+name, http.StatusOK); len(m["factors"].([]any)) != 0 {
		t.Errorf("after the reset: %v", m)
	}
}

// Unlock and reset of a name nobody knows (a typo) answer 404 and record
// nothing. A user the store holds something of is known even when no
// directory lists them, as users from identity_from are.
func TestAdminUnlockAndResetOfAnUnknownUser(t *testing.T) {
	og := startOpsGateway(t, defaultMFA(t), opsOptions{admin: true})
	og.client().enrollAPI("alice", "alice-password")
	for _, path := range []string{"/mfa/users/alcie/reset", "/mfa/users/alcie/unlock"} {
		r := og.adminCall("POST", path)
		mustStatus(t, r, http.StatusNotFound)
		if !strings.Contains(r.Body, `unknown user \"alcie\"`) {
			t.Errorf("%s: %s", path, r.Body)
		}
	}
	for _, e := range og.auditEvents() {
		if strings.HasPrefix(e["event"].(string), "admin_") {
			t.Errorf("an action on an unknown user was recorded: %v", e)
		}
	}
	// bob is listed but has nothing stored; alice has a factor.
	og.adminJSON("POST", "/mfa/users/bob/unlock", http.StatusOK)
	og.adminJSON("POST", "/mfa/users/alice/unlock", http.StatusOK)

	// A user in no directory with recovery codes in the store.
	target, err := findAdminTarget("")
	if err != nil {
		t.Fatal(err)
	}
	if err := target.backend.ReplaceRecoveryCodes(context.Background(), "outsider", [][]byte{make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	if m := og.adminJSON("POST", "/mfa/users/outsider/reset", http.StatusOK); m["recovery_codes_removed"] != float64(1) {
		t.Errorf("reset of a stored outsider: %v", m)
	}
	// Now the store holds nothing of them.
	mustStatus(t, og.adminCall("POST", "/mfa/users/outsider/unlock"), http.StatusNotFound)
}
