// Package keys turns the operator's master secrets into the keys caddy-mfa
// uses: per-purpose subkeys (HKDF-SHA256), sealing of factor secrets at rest
// (AES-256-GCM) and keyed hashes of recovery codes and tokens (HMAC-SHA256).
//
// A Ring holds one or more secrets. The first is current: new keys, seals and
// hashes use it. The others are still accepted, so an operator rotates by
// putting a new secret first, re-sealing what NeedsReseal reports, and
// dropping the old secret once nothing needs it.
//
// Every key carries a short ID derived from its secret, so sealed data and
// tokens name the key that made them without revealing it.
package keys
