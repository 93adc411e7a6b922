package redisstore

import "encoding/hex"

// keyspace names every Redis key of one store. Keys that one script or
// transaction touches together share a hash tag ({…}), so they live in
// one Cluster slot:
//
//	{u:<user>}           hash: "f:<factor id>" → factor, "seen" → first seen
//	{u:<user>}:rc        hash: recovery code hash → ""
//	{u:<user>}:ss        sorted set: session ID, scored by its expiry
//	s:<session id>       string: session
//	{rv}:h               hash: "s:<session id>" | "u:<user>" → revocation
//	{rv}:x               sorted set: the same fields, scored by expiry
//	a:<key>              string: failure counter
//	o:<key>              string: single-use marker
//	{dv}:t:<token hash>  string: trusted device, found by its token
//	{dv}:u:<user>        hash: device ID → token hash
//	p:<id>               string: parked request
//
// A user name may hold any byte, "}" included: every key of a user starts
// with the same "{u:<user>" and so shares its slot, and no suffix contains
// "}", so two users' keys never collide.
type keyspace struct {
	prefix string
}

func (k keyspace) user(u string) string         { return k.prefix + "{u:" + u + "}" }
func (k keyspace) recovery(u string) string     { return k.user(u) + ":rc" }
func (k keyspace) userSessions(u string) string { return k.user(u) + ":ss" }
func (k keyspace) session(sid string) string    { return k.prefix + "s:" + sid }
func (k keyspace) revocations() string          { return k.prefix + "{rv}:h" }
func (k keyspace) revocationExpiry() string     { return k.prefix + "{rv}:x" }
func (k keyspace) attempts(key string) string   { return k.prefix + "a:" + key }
func (k keyspace) once(key string) string       { return k.prefix + "o:" + key }
func (k keyspace) deviceToken(hash []byte) string {
	return k.prefix + "{dv}:t:" + hex.EncodeToString(hash)
}
func (k keyspace) userDevices(u string) string { return k.prefix + "{dv}:u:" + u }
func (k keyspace) parked(id string) string     { return k.prefix + "p:" + id }
func (k keyspace) channel() string             { return k.prefix + "revocations" }

// Fields of the user hash.
const (
	factorField = "f:"
	seenField   = "seen"
)

// Fields of the revocation hash.
func sessionRevocationField(sid string) string { return "s:" + sid }
func userRevocationField(user string) string   { return "u:" + user }
