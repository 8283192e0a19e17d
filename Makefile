# headcount — `make test` is the one command that proves the project.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := ./headcount
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The HAProxy binaries the end-to-end tests run against, one after the other.
HAPROXY_BINS ?= $(or $(shell command -v haproxy 2>/dev/null),/usr/sbin/haproxy)
HAPROXY_LIST := $(subst :, ,$(HAPROXY_BINS))

.PHONY: all build run test bench bench-e2e soak lint clean

all: build

## build: static binary ./headcount (CGO_ENABLED=0, version from git)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/headcount

## run: build and start the agent on ./headcount.db (SPOP 127.0.0.1:12345, admin 127.0.0.1:9345)
run: build
	$(BIN) serve --db ./headcount.db --log-format console

## test: vet, race-enabled unit tests with fuzz seeds, and the end-to-end tests
## (./haproxy/) once per real HAProxy of HAPROXY_BINS (space- or colon-separated
## paths; default: the haproxy on PATH, else /usr/sbin/haproxy)
test:
	@echo "HAProxy versions under test:"
	@for b in $(HAPROXY_LIST); do \
	  v=$$("$$b" -v 2>/dev/null | head -1) && [ -n "$$v" ] || { echo "  $$b: not a working haproxy" >&2; exit 1; }; \
	  echo "  $$b: $$v"; \
	done
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 10m $$($(GO) list ./... | grep -v '^headcount/haproxy$$')
	@failed=""; for b in $(HAPROXY_LIST); do \
	  v=$$("$$b" -v | head -1 | cut -d' ' -f1-3); \
	  echo "== ./haproxy/ against $$v ($$b)"; \
	  if HAPROXY="$$b" $(GO) test -race -count=1 -timeout 10m ./haproxy/; then echo "== $$v: PASS"; \
	  else echo "== $$v: FAIL"; failed="$$failed $$b"; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "./haproxy/ failed against:$$failed" >&2; exit 1; fi

## bench: the Go benchmarks (1 and 2 goroutines) as a table (about 2 minutes)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1,2 -benchtime 1s -timeout 20m ./... | awk -f scripts/benchtable.awk

## bench-e2e: HAProxy alone vs headcount per-request and heartbeat modes, with wrk (about 2 minutes);
## HAPROXY=/path/to/haproxy picks the binary (default: haproxy on PATH), ROUNDS=5 for steadier medians
bench-e2e:
	HAPROXY="$(HAPROXY)" scripts/bench-e2e

## soak: minutes at full rate (SOAK_DURATION, default 3m) with a flat heap, then 10 million sessions expiring
soak:
	$(GO) test -tags soak -run TestSoak -count=1 -v -timeout 30m ./agent/ | grep -E 'soak_test|^(---|ok|FAIL)'

## lint: go vet and staticcheck
lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -f $(BIN)
