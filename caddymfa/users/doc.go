// Package users is caddy-mfa's built-in first factor: users with argon2id or
// bcrypt password hashes, read from the Caddyfile or a YAML users file, and a
// Directory that answers sign-ins without telling known users from unknown
// ones by timing.
//
// Only the hash formats `caddy hash-password` prints are accepted, raw or
// base64-wrapped as older basic_auth configs wrote them. Weaker schemes are
// refused when the configuration loads, not at the first sign-in.
package users
