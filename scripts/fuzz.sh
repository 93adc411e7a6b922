#!/usr/bin/env bash
# Runs every Fuzz* target in the module for FUZZTIME each (default 10s): a
# duration, or a count of inputs such as 5000x. With Go 1.26 a duration run
# can end in "context deadline exceeded" without a failing input, a race in
# the fuzzer itself (go.dev/issue/75804); a count has no deadline to race.
# Targets are found with `go test -list`, so a new one is fuzzed without
# being named anywhere.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fuzztime="${FUZZTIME:-10s}"

# `go test -list` prints each binary's matching names and then the
# package's "ok <pkg>" line; pair every name with the package that follows.
targets="$(go test -list '^Fuzz' ./... | awk '
	/^Fuzz/ { names[n++] = $1; next }
	/^ok/   { for (i = 0; i < n; i++) print $2, names[i]; n = 0; next }
')"

if [ -z "$targets" ]; then
	echo "fuzz: no fuzz targets"
	exit 0
fi

while read -r pkg name; do
	echo "fuzz: $pkg $name for $fuzztime"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" </dev/null
done <<<"$targets"
