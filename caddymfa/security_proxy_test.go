package caddymfa

import (
	"fmt"
	"net/http"
	"testing"
)

// SECURITY.md item 4, the other half of TestClientIPLockIgnoresForwardedFor:
// behind a proxy listed in trusted_proxies, limits and audit events use the
// client IP the proxy reports.
func TestTrustedProxyClientIPDrivesLimits(t *testing.T) {
	og := startOpsGateway(t, defaultMFA(t), opsOptions{global: "servers {\n\t\ttrusted_proxies static 127.0.0.0/8 ::1\n\t}"})
	c := og.client()
	login := func(user, password, ip string) response {
		r, _ := c.api("POST", "login", map[string]string{"username": user, "password": password}, "X-Forwarded-For", ip)
		return r
	}
	// Twenty failures from twenty clients lock none of them, nor the proxy.
	for i := range 20 {
		mustStatus(t, login(fmt.Sprintf("user%d", i), "x", fmt.Sprintf("203.0.113.%d", i)), http.StatusUnauthorized)
	}
	mustStatus(t, login("alice", "alice-password", "198.51.100.7"), http.StatusAccepted)
	// Twenty from one client lock that client only.
	for i := range 20 {
		mustStatus(t, login(fmt.Sprintf("other%d", i), "x", "203.0.113.200"), http.StatusUnauthorized)
	}
	mustStatus(t, login("alice", "alice-password", "203.0.113.200"), http.StatusTooManyRequests)
	mustStatus(t, login("alice", "alice-password", "203.0.113.201"), http.StatusAccepted)

	ips := map[string]bool{}
	for _, e := range og.auditEvents() {
		ips[e["client_ip"].(string)] = true
	}
	for _, ip := range []string{"203.0.113.0", "203.0.113.19", "198.51.100.7", "203.0.113.200"} {
		if !ips[ip] {
			t.Errorf("no audit event from %s (got %v)", ip, ips)
		}
	}
	if ips["127.0.0.1"] || ips["::1"] {
		t.Error("an audit event names the proxy instead of the client")
	}
}
