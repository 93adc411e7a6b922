# caddy-mfa developer and CI commands. `make test` is what CI runs.

GO       ?= go
FUZZTIME ?= 10s

.PHONY: test deps caddy demo fuzz bench bench-e2e lint

# Everything CI checks: test tools, lint (gofmt, go vet), the race-enabled
# suite (including the real xcaddy builds), a run of every benchmark so
# none can rot (the Go benchmarks 100 times, the end-to-end one for six 1 s
# rounds, its A/A control with plain and mfa trading places for two, and,
# under callgrind with its cache and branch simulations, for two rounds of
# 100 requests), and a
# short fuzz of every fuzz target: 5000 inputs each, a count rather than a
# duration because Go 1.26's fuzzer can fail a duration run at its deadline
# with "context deadline exceeded" and no failing input (go.dev/issue/75804).
test: deps
	$(MAKE) lint
	$(GO) test -race -timeout 40m ./...
	$(GO) test -run '^$$' -bench . -benchtime 100x ./...
	$(GO) run ./cmd/mfabench -rounds 6 -duration 1s -warmup 1s
	$(GO) run ./cmd/mfabench -rounds 2 -duration 1s -warmup 0s -aa-control -order abc-bac
	$(GO) run ./cmd/mfabench -instructions 100 -rounds 2 -cache-sim -branch-sim
	FUZZTIME=5000x ./scripts/fuzz.sh

# Debian packages the tests need (redis-server, chromium, oathtool, wrk,
# valgrind).
deps:
	./scripts/test-deps.sh

# Caddy with this checkout's plugin, built from xcaddy.json by xcaddy's library.
caddy:
	cd build/xcaddy && $(GO) run ./cmd/mfabuild -replace "$(CURDIR)" -pin -o "$(CURDIR)/caddy"

# Caddy with the plugin, running the example Caddyfile.
demo:
	$(GO) run ./cmd/caddy run --config Caddyfile.example

# Each fuzz target for FUZZTIME (make fuzz FUZZTIME=1m).
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# End-to-end cost of the mfa handler: plain reverse_proxy vs mfa vs
# forward_auth under wrk (BENCHMARKS.md). Needs wrk; run on a quiet box.
bench-e2e:
	$(GO) run ./cmd/mfabench $(BENCH_E2E_FLAGS)

lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd build/xcaddy && $(GO) vet ./...
