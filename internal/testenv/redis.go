package testenv

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RedisEnv names the environment variable that points tests at an existing
// Redis ("host:port") instead of a private redis-server.
const RedisEnv = "MFA_TEST_REDIS"

// redisStartTimeout bounds how long a starting redis-server may take to
// answer; it is a safety net against a hung process, not a measurement.
const redisStartTimeout = 30 * time.Second

// Redis returns the address of a Redis server for the test. When
// MFA_TEST_REDIS is set, that server is used as it is (tests sharing it must
// keep to their own keys); otherwise a private redis-server is started on a
// free loopback port without persistence and stopped at cleanup.
func Redis(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv(RedisEnv); addr != "" {
		if _, err := redisDo(addr, "PING"); err != nil {
			t.Fatalf("testenv: %s=%s does not answer PING: %v", RedisEnv, addr, err)
		}
		return addr
	}
	return StartRedis(t, RedisOptions{}).Addr()
}

// RedisOptions configures StartRedis.
type RedisOptions struct {
	// AppendOnly turns on AOF persistence with an fsync on every write, so
	// what was written before Stop or Kill is there again after Start.
	AppendOnly bool
	// Cluster starts a Redis Cluster node, with its cluster bus on a port
	// of its own; StartRedisCluster joins nodes into a cluster.
	Cluster bool
	// Sentinel, when set as "name host:port", starts a Redis Sentinel
	// watching that master instead of a data server.
	Sentinel string
	// TLS serves TLS only, with a certificate for 127.0.0.1 from a CA of
	// the test's own (CAFile); clients need no certificate.
	TLS bool
}

// RedisServer is a private redis-server on a loopback port, for tests that
// take the store away and bring it back: Stop, Kill and Start keep the same
// address and data directory. Call its methods from the test's goroutine.
type RedisServer struct {
	t    testing.TB
	bin  string
	opts RedisOptions
	dir  string
	port int
	// busPort is a cluster node's cluster bus port.
	busPort int

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// StartRedis starts a private redis-server (binding only 127.0.0.1, RDB
// snapshots off, its files in a temporary directory) and waits until it
// answers PING. It is stopped at cleanup.
func StartRedis(t testing.TB, opts RedisOptions) *RedisServer {
	t.Helper()
	s := &RedisServer{
		t:    t,
		bin:  lookTool(t, "redis-server", "redis-server"),
		opts: opts,
		dir:  t.TempDir(),
	}
	t.Cleanup(s.cleanup)
	// The free port can be taken between FreePort and redis-server's bind;
	// then redis-server exits at once and another port is tried.
	var err error
	for range 5 {
		s.port = FreePort(t)
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("testenv: start redis-server: %v", err)
	return nil
}

// Addr returns the server's "127.0.0.1:port".
func (s *RedisServer) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Dir returns the server's data directory.
func (s *RedisServer) Dir() string { return s.dir }

// Running reports whether the server process is running.
func (s *RedisServer) Running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Stop shuts the server down gracefully (SIGTERM; with AppendOnly the log
// is flushed first) and waits until it has exited.
func (s *RedisServer) Stop() {
	s.t.Helper()
	s.signal(syscall.SIGTERM)
}

// Kill ends the server abruptly (SIGKILL), as a crash or an OOM kill would,
// and waits until it has exited.
func (s *RedisServer) Kill() {
	s.t.Helper()
	s.signal(syscall.SIGKILL)
}

// Start starts the server again on the same port and data directory after
// Stop or Kill, and waits until it answers PING.
func (s *RedisServer) Start() {
	s.t.Helper()
	if s.Running() {
		s.t.Fatalf("testenv: redis-server on %s is already running", s.Addr())
	}
	if err := s.start(); err != nil {
		s.t.Fatalf("testenv: restart redis-server on %s: %v", s.Addr(), err)
	}
}

func (s *RedisServer) signal(sig syscall.Signal) {
	s.t.Helper()
	if !s.Running() {
		s.t.Fatalf("testenv: redis-server on %s is not running", s.Addr())
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("testenv: signal redis-server: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(redisStartTimeout):
		s.cmd.Process.Kill()
		<-s.exited
		s.t.Fatalf("testenv: redis-server on %s ignored %v; killed it\n%s", s.Addr(), sig, s.logTail())
	}
}

func (s *RedisServer) cleanup() {
	if s.Running() {
		s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *RedisServer) logPath() string { return filepath.Join(s.dir, "redis.log") }

// logTail returns the end of the server's log, for failure messages.
func (s *RedisServer) logTail() string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return "(no redis.log: " + err.Error() + ")"
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// start runs redis-server on s.port and waits until it is ready. It returns
// an error when the process exits early (a taken port, for one) or does not
// become ready in time.
func (s *RedisServer) start() error {
	appendOnly := "no"
	if s.opts.AppendOnly {
		appendOnly = "yes"
	}
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", appendOnly,
		"--appendfsync", "always",
		"--dir", s.dir,
		"--logfile", s.logPath(),
		"--daemonize", "no",
	}
	switch {
	case s.opts.Sentinel != "":
		// A Sentinel takes its configuration from a file it may rewrite.
		name, master, _ := strings.Cut(s.opts.Sentinel, " ")
		host, port, err := net.SplitHostPort(master)
		if err != nil {
			return fmt.Errorf("sentinel master %q: %v", master, err)
		}
		conf := filepath.Join(s.dir, "sentinel.conf")
		if _, err := os.Stat(conf); err != nil {
			text := fmt.Sprintf("sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 5000\n", name, host, port, name)
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				return err
			}
		}
		args = []string{conf, "--sentinel",
			"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
			"--dir", s.dir, "--logfile", s.logPath(), "--daemonize", "no"}
	case s.opts.TLS:
		if err := s.makeCerts(); err != nil {
			return err
		}
		args[1] = "0" // --port 0: no plain TCP
		args = append(args,
			"--tls-port", strconv.Itoa(s.port),
			"--tls-cert-file", filepath.Join(s.dir, "server.pem"),
			"--tls-key-file", filepath.Join(s.dir, "server-key.pem"),
			"--tls-ca-cert-file", s.CAFile(),
			"--tls-auth-clients", "no")
	case s.opts.Cluster:
		if s.busPort == 0 {
			s.busPort = FreePort(s.t)
		}
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(s.busPort),
			"--cluster-node-timeout", "5000")
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(redisStartTimeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited: %v\n%s", cmd.ProcessState, s.logTail())
		default:
		}
		if err := s.checkOurs(); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s not ready after %v: %v\n%s", s.Addr(), redisStartTimeout, err, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkOurs succeeds when the server at Addr answers PING and is the
// process this RedisServer started, not some other server that took the
// port first.
func (s *RedisServer) checkOurs() error {
	do := redisDo
	if s.opts.TLS {
		pool := x509.NewCertPool()
		pem, err := os.ReadFile(s.CAFile())
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("reading the test CA: %v", err)
		}
		do = func(addr string, args ...string) (string, error) {
			return redisDoOn(func() (net.Conn, error) {
				return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
					&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
			}, args...)
		}
	}
	if _, err := do(s.Addr(), "PING"); err != nil {
		return err
	}
	info, err := do(s.Addr(), "INFO", "server")
	if err != nil {
		return err
	}
	want := "process_id:" + strconv.Itoa(s.cmd.Process.Pid)
	for line := range strings.Lines(info) {
		if strings.TrimSpace(line) == want {
			return nil
		}
	}
	return errors.New("another server answers on " + s.Addr())
}

// errRedisNil is the reply to a command whose answer is nil (a missing key).
var errRedisNil = errors.New("redis: nil")

// redisDo sends one command in RESP and returns the reply as text: a simple
// string, an integer, a bulk string, or an array of those joined by
// newlines. An error reply becomes an error.
func redisDo(addr string, args ...string) (string, error) {
	return redisDoOn(func() (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }, args...)
}

// redisDoOn is redisDo on a connection from dial.
func redisDoOn(dial func() (net.Conn, error), args ...string) (string, error) {
	conn, err := dial()
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return "", err
	}
	var req strings.Builder
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, req.String()); err != nil {
		return "", err
	}
	return readRedisReply(bufio.NewReader(conn))
}

func readRedisReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("redis: empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New("redis: " + line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("redis: bad bulk length %q", line)
		}
		if n < 0 {
			return "", errRedisNil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("redis: bad array length %q", line)
		}
		if n < 0 {
			return "", errRedisNil
		}
		items := make([]string, 0, n)
		for range n {
			item, err := readRedisReply(r)
			if err != nil && !errors.Is(err, errRedisNil) {
				return "", err
			}
			items = append(items, item)
		}
		return strings.Join(items, "\n"), nil
	default:
		return "", fmt.Errorf("redis: unsupported reply %q", line)
	}
}

// StartRedisCluster starts three Redis Cluster nodes (masters, no
// replicas), joins them with redis-cli --cluster create and waits until
// every node reports the cluster ok. It returns the nodes' addresses.
func StartRedisCluster(t testing.TB) []string {
	t.Helper()
	var addrs []string
	for range 3 {
		addrs = append(addrs, StartRedis(t, RedisOptions{Cluster: true}).Addr())
	}
	cli := lookTool(t, "redis-tools", "redis-cli")
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(redisStartTimeout)
	for _, addr := range addrs {
		for {
			info, err := redisDo(addr, "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("testenv: Redis Cluster node %s not ok after %v: %v\n%s", addr, redisStartTimeout, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return addrs
}

// StartRedisSentinel starts a data server and a Sentinel that watches it
// as master name. It returns the Sentinel's address.
func StartRedisSentinel(t testing.TB, name string) (sentinel string, master *RedisServer) {
	t.Helper()
	master = StartRedis(t, RedisOptions{})
	s := StartRedis(t, RedisOptions{Sentinel: name + " " + master.Addr()})
	deadline := time.Now().Add(redisStartTimeout)
	for {
		got, err := redisDo(s.Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
		if err == nil && strings.Join(strings.Fields(got), ":") == master.Addr() {
			return s.Addr(), master
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: Sentinel does not name %s as %s: %q, %v", master.Addr(), name, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CAFile is the PEM file of the CA that signed a TLS server's certificate.
func (s *RedisServer) CAFile() string { return filepath.Join(s.dir, "ca.pem") }

// makeCerts writes a CA and a server certificate for 127.0.0.1 signed by
// it, once per server.
func (s *RedisServer) makeCerts() error {
	if _, err := os.Stat(s.CAFile()); err == nil {
		return nil
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "caddy-mfa test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caTmpl, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return err
	}
	files := []struct {
		name, kind string
		der        []byte
	}{
		{"ca.pem", "CERTIFICATE", caDER},
		{"server.pem", "CERTIFICATE", srvDER},
		{"server-key.pem", "EC PRIVATE KEY", keyDER},
	}
	for _, f := range files {
		data := pem.EncodeToMemory(&pem.Block{Type: f.kind, Bytes: f.der})
		if err := os.WriteFile(filepath.Join(s.dir, f.name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
