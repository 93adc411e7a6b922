#!/usr/bin/env bash
# Installs the Debian packages the test suite needs (wrk and valgrind
# drive the smoke runs of the end-to-end benchmark), and only those missing.
# Safe to run again: when every tool is present it does nothing.
set -euo pipefail

# command name -> Debian package
declare -A packages=(
	[redis-server]=redis-server
	[chromium]=chromium
	[oathtool]=oathtool
	[wrk]=wrk
	[valgrind]=valgrind
	[callgrind_control]=valgrind
)

missing=()
for cmd in redis-server chromium oathtool wrk valgrind callgrind_control; do
	if ! command -v "$cmd" >/dev/null 2>&1; then
		missing+=("${packages[$cmd]}")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "test-deps: redis-server, chromium, oathtool, wrk and valgrind are installed"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1; then
	sudo=(sudo)
else
	echo "test-deps: need root or sudo to install: ${missing[*]}" >&2
	echo "test-deps: install them by hand: apt-get install ${missing[*]}" >&2
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "test-deps: apt-get not found; install these Debian packages by hand: ${missing[*]}" >&2
	exit 1
fi

echo "test-deps: installing ${missing[*]}"
install() {
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${missing[@]}"
}
"${sudo[@]}" apt-get update
# An interrupted or concurrent dpkg run can leave half-unpacked packages:
# finish what dpkg had started and try once more before giving up.
if ! install; then
	echo "test-deps: apt-get install failed; repairing dpkg state and retrying" >&2
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive dpkg --configure -a || true
	"${sudo[@]}" apt-get update
	install
fi

for cmd in redis-server chromium oathtool wrk valgrind callgrind_control; do
	if ! command -v "$cmd" >/dev/null 2>&1; then
		echo "test-deps: $cmd is still missing after installing ${missing[*]}" >&2
		exit 1
	fi
done
echo "test-deps: done"
