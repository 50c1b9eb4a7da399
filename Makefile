# quorumkv developer tasks. `make test` is what CI runs.
GO ?= go
RACE_PKGS = ./vclock/... ./ring/... ./coordinator/... ./replica/... ./node/... ./client/...

.PHONY: test check lint race unit build proto fuzz

test: lint race unit

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

race:
	$(GO) test -race -count=1 $(RACE_PKGS)

unit:
	$(GO) test -count=1 ./...

build:
	CGO_ENABLED=0 $(GO) build -o quorumkv ./cmd/quorumkv

proto:
	$(GO) generate ./api

# Short fuzz runs of every decoder (the full budget is for humans: FUZZTIME=10m).
FUZZTIME ?= 10s
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzUnmarshal$$ -fuzztime=$(FUZZTIME) ./vclock/
	$(GO) test -run='^$$' -fuzz=FuzzUnmarshalVV -fuzztime=$(FUZZTIME) ./vclock/
	$(GO) test -run='^$$' -fuzz=FuzzParseToken -fuzztime=$(FUZZTIME) ./vclock/
	$(GO) test -run='^$$' -fuzz=FuzzReadFrame -fuzztime=$(FUZZTIME) ./api/wire/

# Fault harness (test/nemesis, needs root): 3 servers in network namespaces on
# a private bridge, concurrent workloads, a seeded nemesis, then a check of
# every acknowledged write at ALL and on every replica's own storage. The
# JSON summary is the last line of output. `make nemesis` is the short CI
# run; `make nemesis DURATION=5m SEED=n` the long one (replay a failure with
# its printed seed). NEMESIS_FLAGS passes more flags (see
# `go run ./test/nemesis/cmd/nemesis -h`). The binaries are built with the
# default settings (not the static `make build` ones) so they reuse the build
# cache `make test` fills.
NEMESIS_BIN ?= $(or $(TMPDIR),/tmp)/quorumkv-nemesis-bin

.PHONY: nemesis nemesis-bite nemesis-tools

nemesis-tools:
	@command -v iptables >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 || (apt-get update && apt-get install -y iptables iproute2)

nemesis: nemesis-tools
	@mkdir -p $(NEMESIS_BIN)
	$(GO) build -o $(NEMESIS_BIN)/quorumkv ./cmd/quorumkv
	$(GO) build -o $(NEMESIS_BIN)/nemesis ./test/nemesis/cmd/nemesis
	$(NEMESIS_BIN)/nemesis --binary $(NEMESIS_BIN)/quorumkv --duration $(or $(DURATION),75s) --interval $(or $(INTERVAL),8s) $(if $(SEED),--seed $(SEED)) $(NEMESIS_FLAGS)

# The checker bites: a store whose replicas acknowledge writes without
# storing them (--test-bug=skip-apply) loses writes when a disk is lost, and
# the harness must report it; the same scenario on a healthy store passes.
nemesis-bite: nemesis-tools
	QUORUMKV_NEMESIS=1 $(GO) test -count=1 -run 'TestNemesisBites' -v ./test/nemesis/
