# quorumkv developer tasks. `make test` is what CI runs.
GO ?= go
RACE_PKGS = ./vclock/... ./ring/... ./coordinator/... ./replica/...

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
