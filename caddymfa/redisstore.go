package caddymfa

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/caddymfa/store/redisstore"
)

func init() {
	caddy.RegisterModule(RedisStore{})
}

// Defaults of the Redis connection: a gateway would rather answer 503 in
// a second or two than hold sign-ins while Redis is away.
const (
	defaultRedisDialTimeout  = 2 * time.Second
	defaultRedisReadTimeout  = time.Second
	defaultRedisWriteTimeout = time.Second
)

// RedisStore is the shared store (http.mfa.stores.redis) that lets several
// Caddy instances behave as one: standalone Redis, Sentinel (master_name
// plus sentinel addresses) or Cluster (several addresses). Every mfa
// handler and every config reload with the same connection settings
// shares one client and its connection pool.
type RedisStore struct {
	// URL is redis://[user:password@]host:port[/db], or rediss:// for TLS.
	// Placeholders ({env.REDIS_URL}) are resolved.
	URL string `json:"url,omitempty"`
	// Addresses are more host:port addresses: sentinels with MasterName,
	// else Cluster nodes when there are several.
	Addresses []string `json:"addresses,omitempty"`
	// MasterName selects Sentinel: the name of the monitored master.
	MasterName string `json:"master_name,omitempty"`
	// Username and Password override those of the URL; placeholders such
	// as {env.REDIS_PASSWORD} are resolved.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// SentinelPassword authenticates to the sentinels themselves, when
	// they ask for a password of their own.
	SentinelPassword string `json:"sentinel_password,omitempty"`
	// DB is the database number (standalone and Sentinel only); set, it
	// must agree with the URL's /db.
	DB *int `json:"db,omitempty"`
	// Prefix namespaces every key and the revocation channel, so that
	// several gateways can share a Redis. Default "mfa:".
	Prefix string `json:"prefix,omitempty"`
	// PoolSize is the most connections per node; default 10 per CPU.
	PoolSize     int            `json:"pool_size,omitempty"`
	DialTimeout  caddy.Duration `json:"dial_timeout,omitempty"`
	ReadTimeout  caddy.Duration `json:"read_timeout,omitempty"`
	WriteTimeout caddy.Duration `json:"write_timeout,omitempty"`
	// TLS turns on TLS (rediss:// does too) and configures it.
	TLS *RedisTLS `json:"tls,omitempty"`
	// FailClosed refuses every session while the instance is cut off from
	// Redis's revocation feed, since a logout elsewhere may go unheard.
	// Default: valid sessions keep working through an outage.
	FailClosed bool `json:"fail_closed,omitempty"`

	opts      *redis.UniversalOptions
	prefix    string
	clientKey string
	name      string
}

// RedisTLS configures TLS to Redis. An empty object means TLS with the
// system's roots.
type RedisTLS struct {
	// CA is a PEM file of the certificates to trust instead of the
	// system's.
	CA string `json:"ca,omitempty"`
	// Cert and Key are PEM files of a client certificate.
	Cert string `json:"cert,omitempty"`
	Key  string `json:"key,omitempty"`
	// ServerName to verify; default the host dialled.
	ServerName string `json:"server_name,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (RedisStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.mfa.stores.redis",
		New: func() caddy.Module { return new(RedisStore) },
	}
}

// Provision resolves placeholders and builds the client options. Errors
// never quote the URL or the password.
func (rs *RedisStore) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	o, tlsFiles, err := rs.clientOptions(repl)
	if err != nil {
		return err
	}
	if rs.prefix, err = resolveSetting(repl, "prefix", rs.Prefix); err != nil {
		return err
	}
	if rs.prefix == "" {
		rs.prefix = redisstore.DefaultPrefix
	}
	if len(rs.prefix) > 128 {
		return fmt.Errorf("mfa: store redis: prefix is %d bytes, the limit is 128", len(rs.prefix))
	}
	rs.opts = o
	rs.clientKey = clientPoolKey(o, rs.TLS, tlsFiles)
	rs.name = redisStoreName(o, rs.prefix)
	return nil
}

// redisStoreName names the data a store works on: its Redis (sorted
// addresses, master_name), db and prefix, and none of the connection
// settings. It is how the admin API names the store: the same on every
// instance and after every restart, and without credentials.
func redisStoreName(o *redis.UniversalOptions, prefix string) string {
	scheme := "redis"
	if o.MasterName != "" {
		scheme = "redis(sentinel=" + o.MasterName + ")"
	}
	addrs := slices.Sorted(slices.Values(o.Addrs))
	return scheme + ":" + strings.Join(addrs, ",") + "/" + strconv.Itoa(o.DB) + ":" + prefix
}

// redisClients holds one client (one pool) per connection configuration,
// shared by the stores of every prefix on it.
var redisClients = caddy.NewUsagePool()

type pooledClient struct{ redis.UniversalClient }

func (c pooledClient) Destruct() error { return c.Close() }

// PoolKey makes every handler with the same Redis, prefix and fail_closed
// share one backend; the password is hashed, never spelled out. The admin
// API shows the store by its DataName instead, as the hash differs between
// processes.
func (rs *RedisStore) PoolKey() string {
	return "redis:" + rs.clientKey + ":" + strconv.FormatBool(rs.FailClosed) + ":" + rs.prefix
}

// DataName names the keys the store works on; handlers whose connection
// settings differ have backends of their own on the same data.
func (rs *RedisStore) DataName() string { return rs.name }

// FailClosedOnFeedLoss tells the backend to refuse sessions while the
// revocation feed is down.
func (rs *RedisStore) FailClosedOnFeedLoss() bool { return rs.FailClosed }

// OpenStore returns a store on the shared client for this configuration.
func (rs *RedisStore) OpenStore(caddy.Context) (store.Store, error) {
	val, _, err := redisClients.LoadOrNew(rs.clientKey, func() (caddy.Destructor, error) {
		return pooledClient{redis.NewUniversalClient(rs.opts)}, nil
	})
	if err != nil {
		return nil, err
	}
	st := redisstore.New(val.(pooledClient).UniversalClient, redisstore.Options{Prefix: rs.prefix, Now: clock})
	return &sharedRedisStore{Store: st, clientKey: rs.clientKey}, nil
}

// sharedRedisStore gives its hold on the shared client back when closed.
type sharedRedisStore struct {
	*redisstore.Store
	clientKey string
}

func (s *sharedRedisStore) Close() error {
	err := s.Store.Close()
	if _, derr := redisClients.Delete(s.clientKey); derr != nil && err == nil {
		err = derr
	}
	return err
}

// UnmarshalCaddyfile reads
//
//	store redis://[user:password@]host:port[/db] {
//		addresses <host:port>...
//		master_name <name>
//		username <name>
//		password <password>
//		sentinel_password <password>
//		db <n>
//		prefix <prefix>
//		pool_size <n>
//		dial_timeout <duration>
//		read_timeout <duration>
//		write_timeout <duration>
//		tls [{ ca <file>; cert <file>; key <file>; server_name <name> }]
//		fail_closed
//	}
//
// The URL may be left out (`store redis { addresses … }`).
func (rs *RedisStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "store" before a URL, or the module name "redis"
	if d.NextArg() {
		rs.URL = d.Val()
		if !strings.HasPrefix(rs.URL, "redis://") && !strings.HasPrefix(rs.URL, "rediss://") {
			return d.Err("store redis: the argument must be a redis:// or rediss:// URL")
		}
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		field := d.Val()
		// A second line would silently replace the first (addresses add up).
		if seen[field] && field != "addresses" {
			return d.Errf("store redis: %s given twice: give it once", field)
		}
		seen[field] = true
		var err error
		switch field {
		case "addresses":
			rs.Addresses = append(rs.Addresses, d.RemainingArgs()...)
			if len(rs.Addresses) == 0 {
				return d.ArgErr()
			}
		case "master_name":
			err = oneArg(d, &rs.MasterName)
		case "username":
			err = oneArg(d, &rs.Username)
		case "password":
			err = oneArg(d, &rs.Password)
		case "sentinel_password":
			err = oneArg(d, &rs.SentinelPassword)
		case "prefix":
			err = oneArg(d, &rs.Prefix)
		case "db":
			var db int
			err = intArg(d, &db)
			rs.DB = &db // written out, db 0 counts
		case "pool_size":
			err = intArg(d, &rs.PoolSize)
		case "dial_timeout":
			err = durationArg(d, &rs.DialTimeout)
		case "read_timeout":
			err = durationArg(d, &rs.ReadTimeout)
		case "write_timeout":
			err = durationArg(d, &rs.WriteTimeout)
		case "tls":
			err = rs.unmarshalTLS(d)
		case "fail_closed":
			if d.NextArg() {
				return d.ArgErr()
			}
			rs.FailClosed = true
		default:
			return d.Errf("store redis: unknown setting %q (addresses, master_name, username, password, sentinel_password, db, prefix, pool_size, dial_timeout, read_timeout, write_timeout, tls, fail_closed)", field)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (rs *RedisStore) unmarshalTLS(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	rs.TLS = &RedisTLS{}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		field := d.Val()
		if seen[field] {
			return d.Errf("store redis: tls: %s given twice: give it once", field)
		}
		seen[field] = true
		var err error
		switch field {
		case "ca":
			err = oneArg(d, &rs.TLS.CA)
		case "cert":
			err = oneArg(d, &rs.TLS.Cert)
		case "key":
			err = oneArg(d, &rs.TLS.Key)
		case "server_name":
			err = oneArg(d, &rs.TLS.ServerName)
		default:
			return d.Errf("store redis: tls: unknown setting %q (ca, cert, key, server_name)", field)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*RedisStore)(nil)
	_ StoreOpener           = (*RedisStore)(nil)
	_ dataNamer             = (*RedisStore)(nil)
	_ caddyfile.Unmarshaler = (*RedisStore)(nil)
	_ store.RevocationFeed  = (*sharedRedisStore)(nil)
)
