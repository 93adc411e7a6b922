package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddymfa/caddy-mfa/caddymfa/store"
	"github.com/caddymfa/caddy-mfa/caddymfa/store/boltstore"
	"github.com/caddymfa/caddy-mfa/caddymfa/store/redisstore"
)

// target is the store being filled, and how to weigh it.
type target struct {
	store  store.Store
	name   func() string
	memory func(ctx context.Context) (memory, error)
	close  func()
}

// memory is what the store takes: bytes, and how they were measured.
type memory struct {
	bytes  int64
	detail string
}

func openTarget(ctx context.Context, o options) (*target, error) {
	switch o.store {
	case "bolt":
		return openBolt(o)
	case "redis":
		return openRedis(ctx, o)
	}
	return nil, fmt.Errorf("-store must be bolt or redis, got %q", o.store)
}

func openBolt(o options) (*target, error) {
	path := filepath.Join(o.dir, "mfa.db")
	st, err := boltstore.Open(path, boltstore.Options{SweepEvery: -1})
	if err != nil {
		return nil, err
	}
	return &target{
		store: st,
		name:  func() string { return "bbolt (" + path + ")" },
		memory: func(context.Context) (memory, error) {
			fi, err := os.Stat(path)
			if err != nil {
				return memory{}, err
			}
			return memory{bytes: fi.Size(), detail: "file size"}, nil
		},
		close: func() { st.Close() },
	}, nil
}

func openRedis(ctx context.Context, o options) (*target, error) {
	addr, stop := o.redisAddr, func() {}
	if addr == "" {
		var err error
		if addr, stop, err = startRedis(o.dir); err != nil {
			return nil, err
		}
	}
	client := redis.NewClient(&redis.Options{Addr: addr, PoolSize: o.workers + 8})
	if err := client.Ping(ctx).Err(); err != nil {
		stop()
		return nil, fmt.Errorf("redis at %s: %w", addr, err)
	}
	prefix := fmt.Sprintf("mfagen:%d:", time.Now().UnixNano())
	st := redisstore.New(client, redisstore.Options{Prefix: prefix})
	base, err := redisUsedMemory(ctx, client)
	if err != nil {
		stop()
		return nil, err
	}
	return &target{
		store: st,
		name:  func() string { return "redis (" + addr + ", prefix " + prefix + ")" },
		memory: func(ctx context.Context) (memory, error) {
			used, err := redisUsedMemory(ctx, client)
			if err != nil {
				return memory{}, err
			}
			info, _ := client.Info(ctx, "memory").Result()
			rss := infoField(info, "used_memory_rss")
			keys, _ := client.DBSize(ctx).Result()
			return memory{
				bytes:  used - base,
				detail: fmt.Sprintf("INFO used_memory minus before filling; rss %s, %d keys in the db", humanBytes(atoi64(rss)), keys),
			}, nil
		},
		close: func() { st.Close(); client.Close(); stop() },
	}, nil
}

func redisUsedMemory(ctx context.Context, c *redis.Client) (int64, error) {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	return atoi64(infoField(info, "used_memory")), nil
}

func infoField(info, name string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok && k == name {
			return v
		}
	}
	return ""
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// startRedis runs a private redis-server without persistence in dir.
func startRedis(dir string) (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("redis-server is not installed: install the Debian package redis-server, or pass -redis host:port")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no", "--dir", dir)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := redis.NewClient(&redis.Options{Addr: addr})
		err := c.Ping(context.Background()).Err()
		c.Close()
		if err == nil {
			return addr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server on %s did not answer: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
