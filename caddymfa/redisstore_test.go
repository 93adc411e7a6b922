package caddymfa

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

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
		{"db given in the block only", `{"url":"redis://10.0.0.5","db":5}`, func(t *testing.T, rs *RedisStore) {
			if rs.opts.DB != 5 {
				t.Errorf("db %d, want 5", rs.opts.DB)
			}
		}},
		{"db agreeing with the URL", `{"url":"redis://10.0.0.5/3","db":3}`, func(t *testing.T, rs *RedisStore) {
			if rs.opts.DB != 3 {
				t.Errorf("db %d, want 3", rs.opts.DB)
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
		{"db contradicting the URL", `{"url":"redis://app:s3cret@host/3","db":5}`, "db 5 contradicts the URL's /3"},
		{"db 0 contradicting the URL", `{"url":"redis://app:s3cret@host/3","db":0}`, "db 0 contradicts the URL's /3"},
		{"pool_size in the query", `{"url":"redis://app:s3cret@host/2?pool_size=3"}`, "query options"},
		{"timeouts in the query", `{"url":"redis://host?dial_timeout=30s&read_timeout=9s"}`, "query options"},
		{"client_name in the query", `{"url":"redis://host?client_name=x"}`, "query options"},
		{"skip_verify in the query", `{"url":"rediss://host?skip_verify=true"}`, "query options"},
		{"password in the query", `{"url":"redis://host?password=s3cret"}`, "use the block's settings"},
		{"empty query", `{"url":"redis://host/0?"}`, "query options"},
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

// Every `store redis` setting is read once: a second line would silently
// replace the first, so it is refused; `db 0` written out counts.
func TestRedisStoreCaddyfileSettingsOnce(t *testing.T) {
	parse := func(block string) (*RedisStore, error) {
		var rs RedisStore
		return &rs, rs.UnmarshalCaddyfile(caddyfile.NewTestDispenser("store redis://:s3cret@10.0.0.5/3 {\n" + block + "\n}"))
	}
	for block, want := range map[string]string{
		"db 1\ndb 2":                                "store redis: db given twice",
		"prefix a:\nprefix b:":                      "store redis: prefix given twice",
		"password x\npassword y":                    "store redis: password given twice",
		"fail_closed\nfail_closed":                  "store redis: fail_closed given twice",
		"tls\ntls {\nca /x.pem\n}":                  "store redis: tls given twice",
		"tls {\nca /a.pem\nca /b.pem\n}":            "store redis: tls: ca given twice",
		"pool_size 5\ndial_timeout 1s\npool_size 6": "store redis: pool_size given twice",
	} {
		if _, err := parse(block); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", block, err, want)
		}
	}
	rs, err := parse("addresses 10.0.0.6:6379\naddresses 10.0.0.7:6379\ndb 0")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Addresses) != 2 || rs.DB == nil || *rs.DB != 0 {
		t.Fatalf("addresses %v, db %v", rs.Addresses, rs.DB)
	}
	// db 0 against the URL's /3 is a contradiction, not "unset".
	if err := rs.Provision(caddy.Context{}); err == nil || !strings.Contains(err.Error(), "db 0 contradicts the URL's /3") {
		t.Fatalf("provision: %v", err)
	}
}

// writeTestCA writes a self-signed CA certificate in PEM to path.
func writeTestCA(t *testing.T, path, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A reload after rotating the TLS files under the same paths opens a new
// client that trusts the new files; the old pool would keep the old CA.
func TestRedisRotatedTLSFilesMakeANewClient(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeTestCA(t, ca, "old CA")
	config := `{"url":"redis://127.0.0.1:6379","tls":{"ca":"` + ca + `"}}`
	before, err := provisionRedis(t, config)
	if err != nil {
		t.Fatal(err)
	}
	again, err := provisionRedis(t, config)
	if err != nil {
		t.Fatal(err)
	}
	if again.clientKey != before.clientKey {
		t.Fatal("the same files make another client")
	}
	writeTestCA(t, ca, "new CA")
	after, err := provisionRedis(t, config)
	if err != nil {
		t.Fatal(err)
	}
	if after.clientKey == before.clientKey || after.PoolKey() == before.PoolKey() {
		t.Fatal("a rotated CA file keeps the client of the old one")
	}
}

// The admin API's name of a Redis store is the same after a restart (a
// new pool-key secret) and holds no credentials.
func TestRedisStoreNameIsStableAndPasswordFree(t *testing.T) {
	config := `{"url":"redis://app:s3cret@10.0.0.5:6379/1","prefix":"gw:"}`
	name := func() string {
		rs, err := provisionRedis(t, config)
		if err != nil {
			t.Fatal(err)
		}
		return rs.DataName()
	}
	first := name()
	secret := poolKeySecret
	t.Cleanup(func() { poolKeySecret = secret })
	poolKeySecret = []byte("another process")
	if second := name(); second != first {
		t.Errorf("name %q after a restart, was %q", second, first)
	}
	if want := "redis:10.0.0.5:6379/1:gw:"; first != want {
		t.Errorf("name %q, want %q", first, want)
	}
	if strings.Contains(first, "s3cret") || strings.Contains(first, "app") {
		t.Errorf("name %q holds credentials", first)
	}
}

// A Redis store's data name tells where its keys are, and nothing of how
// it connects: sites whose names agree share sessions and revocations.
func TestRedisStoreDataName(t *testing.T) {
	base := `"addresses":["10.0.0.6:6379","10.0.0.5:6379"],"prefix":"gw:"`
	sentinel := `"addresses":["10.0.0.6:26379","10.0.0.5:26379"],"master_name":"main","db":2`
	cases := []struct {
		name, config, want string
	}{
		{"cluster", `{` + base + `}`, "redis:10.0.0.5:6379,10.0.0.6:6379/0:gw:"},
		{"addresses in another order", `{"addresses":["10.0.0.5:6379","10.0.0.6:6379"],"prefix":"gw:"}`, "redis:10.0.0.5:6379,10.0.0.6:6379/0:gw:"},
		{"connection settings", `{` + base + `,"pool_size":3,"read_timeout":"5s","password":"pw","username":"u","fail_closed":true,"tls":{}}`, "redis:10.0.0.5:6379,10.0.0.6:6379/0:gw:"},
		{"sentinel", `{` + sentinel + `}`, "redis(sentinel=main):10.0.0.5:26379,10.0.0.6:26379/2:mfa:"},
		{"another master", `{"addresses":["10.0.0.6:26379","10.0.0.5:26379"],"master_name":"other","db":2}`, "redis(sentinel=other):10.0.0.5:26379,10.0.0.6:26379/2:mfa:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := provisionRedis(t, tc.config)
			if err != nil {
				t.Fatal(err)
			}
			if got := rs.DataName(); got != tc.want {
				t.Errorf("data name %q, want %q", got, tc.want)
			}
		})
	}
}
