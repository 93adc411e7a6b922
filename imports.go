// Package mfa is the root of the caddy-mfa module. Importing it registers
// every caddy-mfa Caddy module, which is what
// `xcaddy build --with github.com/caddymfa/caddy-mfa` relies on.
package mfa

import (
	_ "github.com/caddymfa/caddy-mfa/caddymfa"
)
