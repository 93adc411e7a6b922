// Command caddy is Caddy v2 with its standard modules and the caddy-mfa
// plugin: the same binary `xcaddy build --with github.com/caddymfa/caddy-mfa`
// produces.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddymfa/caddy-mfa"
)

func main() {
	caddycmd.Main()
}
