package caddymfa

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// provisionRedis provisions the JSON form of a redis store.
func provisionRedis(t *testing.T, config string) (*RedisStore, error) {
	t.Helper()
	var rs RedisStore
	if err := json.Unmarshal([]byte(config), &rs); err != nil {
		t.Fatalf("%s: %v", config, err)
	}
	return &rs, rs.Provision(caddy.Context{})
}

func TestRedisStoreSettings(t *testing.T) {
	t.Setenv("MFA_TEST_REDIS_PW", "a/b+c@d:e#f%g")
	cases := []struct {
		name   string
		config string
		check  func(t *testing.T, rs *RedisStore)
	}{
		{"URL with everything", `{"url":"redis://app:s3cret@10.0.0.5:6380/4"}`, func(t *testing.T, rs *RedisStore) {
			o := rs.opts
			if len(o.Addrs) != 1 || o.Addrs[0] != "10.0.0.5:6380" || o.Username != "app" || o.Password != "s3cret" || o.DB != 4 || o.TLSConfig != nil {
				t.Errorf("options %+v", o)
			}
			if rs.prefix != "mfa:" {
				t.Errorf("prefix %q, want the default mfa:", rs.prefix)
			}
		}},
		{"defaults", `{"url":"redis://localhost"}`, func(t *testing.T, rs *RedisStore) {
			o := rs.opts
			if o.Addrs[0] != "localhost:6379" || o.DialTimeout != 2*time.Second || o.ReadTimeout != time.Second ||
				o.WriteTimeout != time.Second || o.MaxRetries != -1 || o.PoolSize != 0 || !o.ContextTimeoutEnabled {
				t.Errorf("options %+v", o)
			}
			if !strings.HasPrefix(o.ClientName, "caddy-mfa-") {
				t.Errorf("client name %q", o.ClientName)
			}
		}},
		{"rediss is TLS", `{"url":"rediss://redis.internal:6380"}`, func(t *testing.T, rs *RedisStore) {
			if rs.opts.TLSConfig == nil || rs.opts.TLSConfig.MinVersion < 0x0303 {
				t.Errorf("TLS config %+v", rs.opts.TLSConfig)
			}
		}},
		{"tls object", `{"url":"redis://redis.internal:6380","tls":{"server_name":"r.example"}}`, func(t *testing.T, rs *RedisStore) {
			if rs.opts.TLSConfig == nil || rs.opts.TLSConfig.ServerName != "r.example" {
				t.Errorf("TLS config %+v", rs.opts.TLSConfig)
			}
		}},
		{"password placeholder in the URL, escaped", `{"url":"redis://:{env.MFA_TEST_REDIS_PW}@127.0.0.1:6379/3"}`, func(t *testing.T, rs *RedisStore) {
			if o := rs.opts; o.Password != "a/b+c@d:e#f%g" || o.Addrs[0] != "127.0.0.1:6379" || o.DB != 3 {
				t.Errorf("password %q, addr %v, db %d", o.Password, o.Addrs, o.DB)
			}
		}},
		{"password field", `{"url":"redis://10.0.0.5","password":"{env.MFA_TEST_REDIS_PW}","username":"app"}`, func(t *testing.T, rs *RedisStore) {
			if o := rs.opts; o.Password != "a/b+c@d:e#f%g" || o.Username != "app" {
				t.Errorf("credentials %q %q", o.Username, o.Password)
			}
		}},
		{"sentinel", `{"addresses":["s1:26379","s2:26379"],"master_name":"main","db":2}`, func(t *testing.T, rs *RedisStore) {
			if o := rs.opts; len(o.Addrs) != 2 || o.MasterName != "main" || o.DB != 2 {
				t.Errorf("options %+v", o)
			}
		}},
		{"cluster", `{"url":"redis://n1:7000","addresses":["n2:7000","n3:7000"],"prefix":"gw1:","pool_size":5}`, func(t *testing.T, rs *RedisStore) {
			if o := rs.opts; len(o.Addrs) != 3 || o.MasterName != "" || o.PoolSize != 5 || rs.prefix != "gw1:" {
				t.Errorf("options %+v, prefix %q", o, rs.prefix)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := provisionRedis(t, c.config)
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, rs)
		})
	}
}

func TestRedisStoreRefusals(t *testing.T) {
	cases := []struct{ name, config, want string }{
		{"nothing to connect to", `{}`, "URL or addresses"},
		{"other scheme", `{"url":"http://s3cret@host"}`, "url must look like"},
		{"unparsable URL", `{"url":"redis://app:s3cret@host:port:x"}`, "url must look like"},
		{"bad db in URL", `{"url":"redis://app:s3cret@host/x"}`, "database number"},
		{"unknown placeholder", `{"url":"redis://:{env.MFA_TEST_UNSET_XYZ}@host"}`, "placeholder"},
		{"address without port", `{"addresses":["host"]}`, "host:port"},
		{"cluster with a db", `{"addresses":["a:1","b:1"],"db":3}`, "only db 0"},
		{"negative pool", `{"url":"redis://host","pool_size":-1}`, "pool_size"},
		{"missing CA file", `{"url":"redis://host","tls":{"ca":"/nonexistent/ca.pem"}}`, "tls ca"},
		{"cert without key", `{"url":"redis://host","tls":{"cert":"/x.pem"}}`, "cert and key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := provisionRedis(t, c.config)
			if err == nil {
				t.Fatal("Provision succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to mention %q", err, c.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q quotes the password", err)
			}
		})
	}
}

// One Redis configuration is one pool: the pool key is the same for the
// same settings however they are spelled, differs with anything that
// changes the connection, and never spells out the password.
func TestRedisPoolKeys(t *testing.T) {
	t.Setenv("MFA_TEST_REDIS_PW", "s3cret")
	key := func(config string) (pool, client string) {
		rs, err := provisionRedis(t, config)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(rs.PoolKey(), "s3cret") {
			t.Fatalf("pool key %q holds the password", rs.PoolKey())
		}
		return rs.PoolKey(), rs.clientKey
	}
	base, baseClient := key(`{"url":"redis://app:s3cret@10.0.0.5:6379/1"}`)
	same := []string{
		`{"url":"redis://app:s3cret@10.0.0.5:6379/1"}`,
		`{"url":"redis://app:{env.MFA_TEST_REDIS_PW}@10.0.0.5:6379/1"}`,
		`{"url":"redis://10.0.0.5:6379","username":"app","password":"{env.MFA_TEST_REDIS_PW}","db":1,"prefix":"mfa:"}`,
	}
	for _, c := range same {
		if k, _ := key(c); k != base {
			t.Errorf("%s: another pool than the same settings spelled otherwise", c)
		}
	}
	otherClient := []string{
		`{"url":"redis://app:other@10.0.0.5:6379/1"}`,
		`{"url":"redis://app:s3cret@10.0.0.6:6379/1"}`,
		`{"url":"redis://app:s3cret@10.0.0.5:6379/2"}`,
		`{"url":"rediss://app:s3cret@10.0.0.5:6379/1"}`,
		`{"url":"redis://app:s3cret@10.0.0.5:6379/1","pool_size":3}`,
	}
	for _, c := range otherClient {
		if k, ck := key(c); k == base || ck == baseClient {
			t.Errorf("%s: shares the pool of different settings", c)
		}
	}
	// Another namespace or fail_closed is another backend on the same client.
	for _, c := range []string{
		`{"url":"redis://app:s3cret@10.0.0.5:6379/1","prefix":"other:"}`,
		`{"url":"redis://app:s3cret@10.0.0.5:6379/1","fail_closed":true}`,
	} {
		if k, ck := key(c); k == base || ck != baseClient {
			t.Errorf("%s: want another backend on the same client", c)
		}
	}
}

// The gateway on each Redis topology, configured from Caddyfile text as an
// operator writes it: rediss:// to a TLS-only server trusting a CA file,
// Sentinel addresses with a master_name, and Cluster nodes. A user enrolls,
// and the session and a logout hold.
func TestGatewayOnEveryRedisTopology(t *testing.T) {
	cases := []struct {
		name  string
		store func(t *testing.T) string
	}{
		{"tls", func(t *testing.T) string {
			s := testenv.StartRedis(t, testenv.RedisOptions{TLS: true})
			return fmt.Sprintf("store rediss://%s/0 {\n\t\t\ttls {\n\t\t\t\tca %s\n\t\t\t}\n\t\t}", s.Addr(), s.CAFile())
		}},
		{"sentinel", func(t *testing.T) string {
			sentinel, _ := testenv.StartRedisSentinel(t, "mfa-main")
			return fmt.Sprintf("store redis {\n\t\t\taddresses %s\n\t\t\tmaster_name mfa-main\n\t\t}", sentinel)
		}},
		{"cluster", func(t *testing.T) string {
			return fmt.Sprintf("store redis {\n\t\t\taddresses %s\n\t\t}", strings.Join(testenv.StartRedisCluster(t), " "))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := startGateway(t, strings.Replace(defaultMFA(t), "store file {STORE}", c.store(t), 1))
			cl := g.client()
			_, _, token := cl.enrollAPI("alice", "alice-password")
			bearer := []string{"Authorization", "Bearer " + token}
			mustStatus(t, cl.get("/", bearer...), http.StatusOK)
			if got := g.up.last(t).Header.Get("Remote-User"); got != "alice" {
				t.Fatalf("Remote-User = %q", got)
			}
			r, _ := cl.api("POST", "logout", nil, bearer...)
			mustStatus(t, r, http.StatusNoContent)
			mustStatus(t, g.client().get("/", bearer...), http.StatusUnauthorized)
		})
	}
}
