//go:build tools

// Package tools pins the xcaddy version this module builds with; the
// build tag keeps it out of every ordinary build.
package tools

import (
	_ "github.com/caddyserver/xcaddy/cmd"
)
