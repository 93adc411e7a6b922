package testenv

import "testing"

// Oathtool returns the path of oathtool, an independent TOTP/HOTP client,
// or fails the test naming the Debian package oathtool.
func Oathtool(t testing.TB) string {
	t.Helper()
	return lookTool(t, "oathtool", "oathtool")
}
