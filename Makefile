# quorumkv developer tasks. `make test` is what CI runs.
GO ?= go
RACE_PKGS = ./vclock/... ./ring/... ./coordinator/... ./replica/... ./node/... ./client/... ./antientropy/... ./hintedhandoff/... ./internal/... ./peer/... ./serial/... ./discovery/...

.PHONY: test check lint race unit build proto fuzz ringpage image compose-test

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

# The admin port's ring page (/ring) rendered in headless Chromium against
# a 3-node cluster (needs chromium; `make test` runs it too).
ringpage:
	$(GO) test -count=1 -run 'TestProcessRingPage' -v ./cmd/quorumkv/

proto:
	$(GO) generate ./api

# The server image (Dockerfile): the static binary on scratch. Nothing is
# pulled: the binary is built here and the image only copies it in.
IMAGE ?= quorumkv:dev
image:
	CGO_ENABLED=0 $(GO) build -o .build/image/quorumkv ./cmd/quorumkv
	@mkdir -p .build/image/data
	docker build -q -t $(IMAGE) .

# Three nodes from deploy/compose.yaml (an image of their own, a project
# name of their own, host ports picked by Docker): write, wait for the
# ring, kill a node, read at QUORUM, then tear everything down, also on
# failure (needs Docker and docker-compose).
compose-test:
	bash deploy/compose-test.sh

# Short fuzz runs of every decoder (the full budget is for humans: FUZZTIME=10m).
FUZZTIME ?= 10s
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzUnmarshal$$ -fuzztime=$(FUZZTIME) ./vclock/
	$(GO) test -run='^$$' -fuzz=FuzzUnmarshalVV -fuzztime=$(FUZZTIME) ./vclock/
	$(GO) test -run='^$$' -fuzz=FuzzParseToken -fuzztime=$(FUZZTIME) ./vclock/
	$(GO) test -run='^$$' -fuzz=FuzzReadFrame -fuzztime=$(FUZZTIME) ./api/wire/
	$(GO) test -run='^$$' -fuzz=FuzzReadLimited -fuzztime=$(FUZZTIME) ./api/wire/
	$(GO) test -run='^$$' -fuzz=FuzzUnmarshalAnnouncement -fuzztime=$(FUZZTIME) ./discovery/

# Fault harness (test/nemesis, needs root): servers in network namespaces on
# a private bridge, concurrent workloads, a seeded nemesis, then a check of
# every acknowledged write at ALL and on every replica's own storage. The
# JSON summary is the last line of output. `make nemesis` is the short CI
# run (3 servers, ~75 s of faults); `make nemesis DURATION=5m SEED=n` the
# long one (replay a failure with its printed seed). `make nemesis NODES=5`
# is the membership run CI does too (5 members and a spare slot, ~90 s):
# besides partitions, kill -9, SIGSTOP, slow nodes (a SIGSTOP/SIGCONT duty
# cycle), clock skew and hint-holder kills the
# nemesis joins a node, decommissions one (ring leave), removes a dead one
# and brings it back with a wiped disk, and restarts one that left on its
# old data dir, with tombstones reaped after 20 s (--short-grace); it fails
# on any lost, unexpected or resurrected value, a read at ONE that misses an
# acknowledged key after a change, a change that does not settle within
# 45 s, fewer than 3 changes, or < 99 % majority-side availability outside
# ring commits. The long membership run: `make nemesis NODES=5 DURATION=5m
# SEED=n NEMESIS_FLAGS="--min-faults 40 --min-membership-changes 8"`.
#
# Every run also drives the register workload (REGISTER=1, the default;
# REGISTER=0 leaves it out): linearizable registers r-0..r-4 (SerialGet,
# CompareAndSet by version or unconditional, values 0-4) and a counter
# r-counter (Increment), through the ring-aware client and through clients
# pinned to each node, at most 2000 operations per key. Their histories are
# checked with porcupine: a key that is not linearizable, or a checker
# time-out (60 s), fails the run, and porcupine's visualization of the key
# is written to the kept data dir. Unknown outcomes are reported (the
# summary's registers.unknown_share); a run given a DURATION also fails
# above 2 % of them (--max-unknown 0.02), a short run reports only.
#
# One nemesis kind at a time: FAULTS=kind[,kind] (isolate, partition,
# oneway, kill, pause, slow, skew, hintkill, wipe, or membership for the
# four ring changes). The 5-minute run per nemesis kind, 5 nodes and N=3:
#   make nemesis NODES=5 DURATION=5m SEED=n FAULTS=partition
#   make nemesis NODES=5 DURATION=5m SEED=n FAULTS=kill
#   make nemesis NODES=5 DURATION=5m SEED=n FAULTS=pause
#   make nemesis NODES=5 DURATION=5m SEED=n FAULTS=slow
#   make nemesis NODES=5 DURATION=5m SEED=n FAULTS=skew
#   make nemesis NODES=5 DURATION=5m SEED=n FAULTS=membership
# (and FAULTS=isolate, oneway, hintkill likewise); every kind together is
# the long membership run above. CONCURRENT=1 runs the membership changes
# concurrent with the other faults instead of in turn with them (a change
# at a time; a fault never acts on the node a change acts on):
#   make nemesis NODES=5 DURATION=5m SEED=n CONCURRENT=1
# `make nemesis-kinds SEED=n` runs every kind of NEMESIS_KINDS alone, then
# all of them with CONCURRENT=1, one after the other (DURATION, default 5m).
# NEMESIS_FLAGS passes more flags (see `go run ./test/nemesis/cmd/nemesis
# -h`). The binaries are built with the default settings (not the static
# `make build` ones) so they reuse the build cache `make test` fills, and
# with the faultinject build tag: the product binary has no --test-bug or
# --clock-offset, the server the harness runs needs them.
FAULT_TAGS = faultinject
NEMESIS_BIN ?= $(or $(TMPDIR),/tmp)/quorumkv-nemesis-bin
NODES ?= 3
REGISTER ?= 1
NEMESIS_KINDS ?= isolate partition oneway kill pause slow skew hintkill membership
comma := ,
# The 5-node run draws ring changes unless FAULTS names no membership kind.
NEMESIS_MEMBERSHIP = $(if $(FAULTS),$(filter membership join leave remove rejoin,$(subst $(comma), ,$(FAULTS))),all)
ifeq ($(NODES),3)
NEMESIS_RUN = --duration $(or $(DURATION),75s) --interval $(or $(INTERVAL),8s) $(if $(FAULTS),--faults $(FAULTS))
else
# Every membership kind is in each cycle of the fault draw of the 90 s run
# (3 changes within the first 7 faults); a run given a DURATION draws 2 a
# cycle (changes last until they have settled, 5-30 s), so 5 minutes hold
# 40 faults.
NEMESIS_RUN = --nodes $(NODES) $(if $(FAULTS),--faults $(FAULTS),--membership) $(if $(filter 1,$(CONCURRENT)),--concurrent-membership) --short-grace --partitions 128 --think 20ms \
	--duration $(or $(DURATION),90s) --interval $(or $(INTERVAL),4s) --hold-min 1500ms --hold-max 3s --require-availability \
	$(if $(NEMESIS_MEMBERSHIP),--membership-per-cycle $(or $(MEMBERSHIP_PER_CYCLE),$(if $(DURATION),2,0)) --min-membership-changes 3)
endif
NEMESIS_RUN += $(if $(filter 1,$(REGISTER)),--register $(if $(DURATION),,--max-unknown 0))

.PHONY: nemesis nemesis-kinds nemesis-bite nemesis-tools

nemesis-tools:
	@command -v iptables >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 || (apt-get update && apt-get install -y iptables iproute2)

nemesis: nemesis-tools
	@mkdir -p $(NEMESIS_BIN)
	$(GO) build -tags $(FAULT_TAGS) -o $(NEMESIS_BIN)/quorumkv ./cmd/quorumkv
	$(GO) build -o $(NEMESIS_BIN)/nemesis ./test/nemesis/cmd/nemesis
	$(NEMESIS_BIN)/nemesis --binary $(NEMESIS_BIN)/quorumkv $(NEMESIS_RUN) $(if $(SEED),--seed $(SEED)) $(NEMESIS_FLAGS)

nemesis-kinds: nemesis-tools
	@set -e; for k in $(NEMESIS_KINDS); do \
		echo "== nemesis kind $$k: 5 nodes, N=3, $(or $(DURATION),5m)"; \
		$(MAKE) --no-print-directory nemesis NODES=5 FAULTS=$$k DURATION=$(or $(DURATION),5m) $(if $(SEED),SEED=$(SEED)); \
	done; \
	echo "== every kind, membership changes concurrent with the others: 5 nodes, N=3, $(or $(DURATION),5m)"; \
	$(MAKE) --no-print-directory nemesis NODES=5 CONCURRENT=1 DURATION=$(or $(DURATION),5m) $(if $(SEED),SEED=$(SEED))

# The checker bites: a store whose replicas acknowledge writes without
# storing them (--test-bug=skip-apply, faultinject build) loses writes when a disk is lost, and
# a build whose reaper skips the all-replicas check (-tags qkvbug_reapall)
# undoes deletes while a replica is down; the harness must report both, and
# the same scenarios on a healthy store pass. It also runs the lease
# partition test and the LAN discovery test (three servers in namespaces
# find each other by multicast, with no --join, and form one ring).
nemesis-bite: nemesis-tools
	@mkdir -p $(NEMESIS_BIN)
	$(GO) build -tags $(FAULT_TAGS) -o $(NEMESIS_BIN)/quorumkv ./cmd/quorumkv
	$(GO) build -tags $(FAULT_TAGS),qkvbug_reapall -o $(NEMESIS_BIN)/quorumkv-reapall ./cmd/quorumkv
	QUORUMKV_NEMESIS=1 QUORUMKV_BINARY=$(NEMESIS_BIN)/quorumkv QUORUMKV_BINARY_REAPALL=$(NEMESIS_BIN)/quorumkv-reapall \
		$(GO) test -count=1 -run 'TestNemesisBites|TestLeasePartition|TestLANDiscovery' -v ./test/nemesis/
