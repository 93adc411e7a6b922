// Package boltstore is the default store of caddy-mfa: one bbolt file on
// local disk, for one Caddy process. Several Caddy instances need a shared
// store (Redis) instead; the file is locked while open.
//
// Every record is JSON, except parked requests, in one of these buckets:
//
//	factors          user → (factor ID → FactorRecord)
//	recovery_codes   user → recovery code hashes
//	attempts         key → failure counter and when it is forgotten
//	sessions         session ID → Session
//	user_sessions    user → (session ID → empty), to list a user's sessions
//	revocations      "s\x00"+session ID or "u\x00"+user → Revocation
//	once             key → expiry of a single-use marker
//	first_seen       user → first time seen
//	devices          user → (device ID → Device)
//	device_tokens    token hash → {user, device ID}, to find a device by its cookie
//	parked_requests  ID → expiry (12 bytes: Unix seconds, nanoseconds) + opaque data
//
// Each operation is one read-write transaction, committed with fsync, so
// what a method reported as stored survives a crash. Concurrent writers are
// batched into shared transactions. Expired records are ignored on read and
// deleted by a background sweep.
package boltstore
