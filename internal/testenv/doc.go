// Package testenv gives tests the real things they run against: the
// repository root, a directory for artifacts that CI keeps, headless
// Chromium, oathtool, a private redis-server, a built Caddy binary and free
// loopback ports.
//
// Nothing here skips. A missing tool fails the test with the name of the
// Debian package that provides it; scripts/test-deps.sh installs them all.
package testenv
