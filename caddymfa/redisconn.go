package caddymfa

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
)

// How the Redis store's settings become go-redis client options: the URL
// with its placeholders, TLS, the client's name and the pool key.

// clientOptions turns the settings into go-redis options. tlsFiles is a
// digest of the TLS files read, so that rotated files make another pool.
func (rs *RedisStore) clientOptions(repl *caddy.Replacer) (o *redis.UniversalOptions, tlsFiles []byte, err error) {
	resolve := func(what, v string) (string, error) { return resolveSetting(repl, what, v) }
	o = &redis.UniversalOptions{
		PoolSize:     rs.PoolSize,
		DialTimeout:  durationOr(rs.DialTimeout, defaultRedisDialTimeout),
		ReadTimeout:  durationOr(rs.ReadTimeout, defaultRedisReadTimeout),
		WriteTimeout: durationOr(rs.WriteTimeout, defaultRedisWriteTimeout),
		// A script whose answer was lost may have run: running it again
		// could spend a recovery code twice. A lost answer is a 503 and
		// the user tries again. Dials, which cannot have run anything,
		// are still retried.
		MaxRetries:            -1,
		DialerRetries:         2,
		DialerRetryTimeout:    50 * time.Millisecond,
		ContextTimeoutEnabled: true,
		ClientName:            nextClientName(),
	}
	var useTLS, urlHasDB bool
	if rs.URL != "" {
		raw, err := resolveURL(repl, rs.URL)
		if err != nil {
			return nil, nil, err
		}
		u, hasDB, err := parseRedisURL(raw)
		if err != nil {
			return nil, nil, err
		}
		o.Addrs = append(o.Addrs, u.Addr)
		o.Username, o.Password, o.DB = u.Username, u.Password, u.DB
		useTLS, urlHasDB = u.TLSConfig != nil, hasDB
	}
	for i, a := range rs.Addresses {
		addr, err := resolve("addresses", a)
		if err != nil {
			return nil, nil, err
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, nil, fmt.Errorf("mfa: store redis: address #%d is not host:port", i+1)
		}
		o.Addrs = append(o.Addrs, addr)
	}
	if len(o.Addrs) == 0 {
		return nil, nil, errors.New("mfa: store redis: give a redis:// URL or addresses")
	}
	if rs.Username != "" {
		if o.Username, err = resolve("username", rs.Username); err != nil {
			return nil, nil, err
		}
	}
	if rs.Password != "" {
		if o.Password, err = resolve("password", rs.Password); err != nil {
			return nil, nil, err
		}
	}
	if rs.SentinelPassword != "" {
		if o.SentinelPassword, err = resolve("sentinel_password", rs.SentinelPassword); err != nil {
			return nil, nil, err
		}
	}
	if rs.DB != nil {
		// Either may be the one the operator meant: refuse rather than pick.
		if urlHasDB && *rs.DB != o.DB {
			return nil, nil, fmt.Errorf("mfa: store redis: db %d contradicts the URL's /%d: give the database once", *rs.DB, o.DB)
		}
		o.DB = *rs.DB
	}
	if o.MasterName, err = resolve("master_name", rs.MasterName); err != nil {
		return nil, nil, err
	}
	switch {
	case o.DB < 0:
		return nil, nil, fmt.Errorf("mfa: store redis: db must be 0 or more, got %d", o.DB)
	case o.MasterName == "" && len(o.Addrs) > 1 && o.DB != 0:
		return nil, nil, errors.New("mfa: store redis: a Cluster (several addresses) has only db 0")
	case rs.PoolSize < 0:
		return nil, nil, fmt.Errorf("mfa: store redis: pool_size must be positive, got %d", rs.PoolSize)
	case rs.DialTimeout < 0 || rs.ReadTimeout < 0 || rs.WriteTimeout < 0:
		return nil, nil, errors.New("mfa: store redis: timeouts must be positive")
	}
	if useTLS || rs.TLS != nil {
		if o.TLSConfig, tlsFiles, err = rs.tlsConfig(resolve); err != nil {
			return nil, nil, err
		}
	}
	return o, tlsFiles, nil
}

// resolveSetting resolves the placeholders of one setting.
func resolveSetting(repl *caddy.Replacer, what, v string) (string, error) {
	out, err := repl.ReplaceOrErr(v, true, true)
	if err != nil {
		return "", fmt.Errorf("mfa: store redis: %s: a placeholder could not be resolved", what)
	}
	return strings.TrimSpace(out), nil
}

// tlsConfig builds the TLS settings; files is a SHA-256 of the files it
// read (CA, certificate, key).
func (rs *RedisStore) tlsConfig(resolve func(what, v string) (string, error)) (cfg *tls.Config, files []byte, err error) {
	cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	t := rs.TLS
	if t == nil {
		t = &RedisTLS{}
	}
	digest := sha256.New()
	read := func(what, setting string) (string, []byte, error) {
		path, err := resolve(what, setting)
		if err != nil {
			return "", nil, err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", nil, fmt.Errorf("mfa: store redis: %s: %w", what, err)
		}
		fmt.Fprintf(digest, "%s %d\n", what, len(b))
		digest.Write(b)
		return path, b, nil
	}
	if cfg.ServerName, err = resolve("tls server_name", t.ServerName); err != nil {
		return nil, nil, err
	}
	if t.CA != "" {
		path, pem, err := read("tls ca", t.CA)
		if err != nil {
			return nil, nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("mfa: store redis: tls ca: no PEM certificate in %s", path)
		}
	}
	if (t.Cert == "") != (t.Key == "") {
		return nil, nil, errors.New("mfa: store redis: tls cert and key go together")
	}
	if t.Cert != "" {
		_, certPEM, err := read("tls cert", t.Cert)
		if err != nil {
			return nil, nil, err
		}
		_, keyPEM, err := read("tls key", t.Key)
		if err != nil {
			return nil, nil, err
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("mfa: store redis: tls cert/key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, digest.Sum(nil), nil
}

// resolveURL resolves the placeholders of a URL; those in the user info
// are percent-encoded, so a password such as "a/b+c@d" survives parsing.
func resolveURL(repl *caddy.Replacer, raw string) (string, error) {
	// Placeholders may hold slashes ({file./run/secrets/x}): the user info
	// is found by the literal characters only.
	type span struct{ from, to int }
	var holders []span
	masked := []byte(raw)
	for i := 0; i < len(raw); i++ {
		if raw[i] != '{' {
			continue
		}
		j := strings.IndexByte(raw[i:], '}')
		if j < 0 {
			break
		}
		holders = append(holders, span{i, i + j + 1})
		for k := i; k <= i+j; k++ {
			masked[k] = '_'
		}
		i += j
	}
	userEnd := -1 // index of the '@' ending the user info
	if start := strings.Index(string(masked), "://"); start >= 0 {
		start += 3
		end := len(masked)
		if i := strings.IndexAny(string(masked[start:]), "/?#"); i >= 0 {
			end = start + i
		}
		if at := strings.LastIndexByte(string(masked[start:end]), '@'); at >= 0 {
			userEnd = start + at
		}
	}
	var b strings.Builder
	last := 0
	for _, h := range holders {
		b.WriteString(raw[last:h.from])
		val, err := repl.ReplaceOrErr(raw[h.from:h.to], true, true)
		if err != nil {
			return "", errors.New("mfa: store redis: url: a placeholder could not be resolved")
		}
		if h.from < userEnd {
			val = escapeUserInfo(val)
		}
		b.WriteString(val)
		last = h.to
	}
	b.WriteString(raw[last:])
	return strings.TrimSpace(b.String()), nil
}

// escapeUserInfo percent-encodes all but unreserved characters.
func escapeUserInfo(s string) string {
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// parseRedisURL reads a redis:// or rediss:// URL; hasDB tells whether
// it names a database. Its errors name the problem, never the URL, which
// may hold a password.
func parseRedisURL(raw string) (o *redis.Options, hasDB bool, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return nil, false, errors.New("mfa: store redis: url must look like redis://[user:password@]host:port[/db] (or rediss:// for TLS)")
	}
	// go-redis would read some query options and drop others without a
	// word; the block's settings are the one place for them.
	if u.RawQuery != "" || u.ForceQuery {
		return nil, false, errors.New("mfa: store redis: url: query options (?…) are not read; use the block's settings (pool_size, dial_timeout, read_timeout, write_timeout, tls, db, …)")
	}
	if o, err = redis.ParseURL(raw); err != nil {
		return nil, false, fmt.Errorf("mfa: store redis: url %s: %s", u.Redacted(), redactURLError(err.Error(), u))
	}
	return o, strings.Trim(u.Path, "/") != "", nil
}

// redactURLError removes the password from a parser's message.
func redactURLError(msg string, u *url.URL) string {
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}

func durationOr(d caddy.Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

// clientNames numbers the clients of this process, so that CLIENT LIST on
// the server tells instances and pools apart.
var clientNames atomic.Int64

func nextClientName() string {
	host, _ := os.Hostname()
	name := "caddy-mfa-" + host + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(clientNames.Add(1), 10)
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' {
			return '_'
		}
		return r
	}, name)
}

// poolKeySecret keys the pool-key hash, so a key that shows up anywhere
// reveals nothing about the password in it; it only has to be stable
// within this process, where the pools live.
var poolKeySecret = []byte(rand.Text())

// clientPoolKey identifies a connection configuration, the contents of
// its TLS files included: a reload after rotating them opens a new pool.
func clientPoolKey(o *redis.UniversalOptions, t *RedisTLS, tlsFiles []byte) string {
	var tlsOn bool
	var tlsCfg RedisTLS
	if o.TLSConfig != nil {
		tlsOn = true
		if t != nil {
			tlsCfg = *t
		}
		tlsCfg.ServerName = o.TLSConfig.ServerName
	}
	fields, _ := json.Marshal([]any{
		o.Addrs, o.MasterName, o.Username, o.Password, o.SentinelPassword, o.DB, o.PoolSize,
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, tlsOn, tlsCfg, tlsFiles,
	})
	mac := hmac.New(sha256.New, poolKeySecret)
	mac.Write(fields)
	return hex.EncodeToString(mac.Sum(nil))
}
