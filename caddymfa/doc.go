// Package caddymfa is the Caddy edge of caddy-mfa: the http.handlers.mfa
// module, its Caddyfile and JSON configuration, the sign-in and challenge
// flows, the JSON API and the identity headers sent upstream. The decisions
// that need no Caddy live in the leaf packages (store, factor, users, keys,
// challengepage, trusteddevice).
package caddymfa
