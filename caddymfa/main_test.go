package caddymfa

import (
	"testing"

	"github.com/caddymfa/caddy-mfa/internal/testenv"
)

// TestMain removes the Caddy binary the multi-instance tests build.
func TestMain(m *testing.M) { testenv.Main(m) }
