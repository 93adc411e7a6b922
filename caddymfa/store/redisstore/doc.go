// Package redisstore keeps caddy-mfa's state in Redis, so that several
// Caddy instances share enrollments, sessions, devices and failure
// counters. It works on a standalone server, Sentinel or Cluster through
// go-redis's UniversalClient, and needs Redis 6.2 or later.
//
// Every operation the store contract calls atomic is one Lua script (run
// with EVALSHA) or one single-key command, so it stays atomic across
// processes; the keys a script touches share a hash tag, hence a Cluster
// slot (see keys.go for the layout). Every key that holds something with
// an expiry has a TTL at that expiry (PEXPIREAT); answers are still
// checked against the caller's clock, as the contract asks.
//
// Redis keeps its data in memory: records are encoded compactly (see
// codec.go), and memory_test.go measures a user and a session.
//
// Revocations are also published on a channel, and the store is a
// store.RevocationFeed: each instance keeps them in memory and hears of
// new ones at once, without asking Redis on every request.
package redisstore
