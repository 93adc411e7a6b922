package caddymfa

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// Two sites on one Redis share one backend and one client, and a config
// reload opens no second pool: the server sees a single client name from
// this process before and after.
func TestRedisReloadSharesOnePool(t *testing.T) {
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	g := startGateway(t, defaultMFA(t)) // the clock, the upstream and the log
	a, _ := userHashes(t)
	ports := []int{freePort(t), freePort(t)}
	config := func(generation int) string {
		var sites strings.Builder
		for _, p := range ports {
			fmt.Fprintf(&sites, `
http://localhost:%d {
	mfa {
		secret %s
		user alice %s
		issuer "Generation %d"
		store redis://%s/0 {
			prefix reload:
		}
	}
	reverse_proxy %s
}
`, p, testSecret, a, generation, srv.Addr(), g.up.addr())
		}
		return fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n\tlog {\n\t\toutput file %s\n\t}\n}\n%s", g.logFile, sites.String())
	}
	signInEverywhere := func() {
		t.Helper()
		for _, p := range ports {
			url := "http://localhost:" + strconv.Itoa(p) + "/_mfa/api/v1/login"
			// A connection the old config's server accepted as it shut
			// down may be dropped; a client would try again.
			var resp *http.Response
			var err error
			for range 5 {
				req, _ := http.NewRequest("POST", url, strings.NewReader(`{"username":"alice","password":"alice-password"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json")
				if resp, err = http.DefaultClient.Do(req); err == nil {
					break
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("login on port %d: %d, want 202", p, resp.StatusCode)
			}
		}
	}

	if err := loadCaddyfile(config(1)); err != nil {
		t.Fatal(err)
	}
	signInEverywhere()
	before := ourRedisClients(t, srv.Addr())
	if len(before) != 1 {
		t.Fatalf("two sites opened %d clients (%v), want 1", len(before), before)
	}
	if err := loadCaddyfile(config(2)); err != nil {
		t.Fatal(err)
	}
	signInEverywhere()
	after := ourRedisClients(t, srv.Addr())
	if len(after) != 1 || after[0] != before[0] {
		t.Fatalf("clients after the reload %v, want only %v", after, before)
	}
	var redisBackends, refs int
	backends.Range(func(key, _ any) bool {
		if k := key.(string); strings.HasPrefix(k, "redis:") {
			redisBackends++
			refs, _ = backends.References(k)
		}
		return true
	})
	if redisBackends != 1 || refs != 2 {
		t.Fatalf("%d Redis backends with %d references, want 1 shared by the 2 sites", redisBackends, refs)
	}
}

// ourRedisClients lists the distinct names of this process's clients
// connected to the server (each client names all of its connections).
func ourRedisClients(t *testing.T, addr string) []string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	list, err := c.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	mine := "caddy-mfa-" + host + "-" + strconv.Itoa(os.Getpid()) + "-"
	seen := map[string]int{}
	var names []string
	for line := range strings.Lines(list) {
		for field := range strings.FieldsSeq(line) {
			if name, ok := strings.CutPrefix(field, "name="); ok && strings.HasPrefix(name, mine) {
				if seen[name] == 0 {
					names = append(names, name)
				}
				seen[name]++
			}
		}
	}
	t.Logf("connections per client: %v", seen)
	return names
}
