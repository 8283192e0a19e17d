# headcount — `make test` is the one command that proves the project.

GO        ?= go
# A source archive (make dist) carries .version in place of git's answers.
-include .version
# The version is the tag of the commit without its v (v0.2.0 -> 0.2.0);
# past a tag, git describe's form (0.2.0-3-gabc1234, -dirty for changes).
VERSION   ?= $(or $(shell git describe --tags --always --dirty 2>/dev/null | sed 's/^v\([0-9]\)/\1/'),dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
# The build date is the commit's time, so that a commit always builds the same binary.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
BUILD_DATE := $(if $(SOURCE_DATE_EPOCH),$(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ))
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(BUILD_DATE)
BIN       := ./headcount
# make dist: where the bundle goes, the Ed25519 key (PEM) that signs SHA256SUMS,
# and the pinned packaging tools, installed into TOOLS by make tools.
DISTDIR   ?= dist
SIGNING_KEY ?=
TOOLS     ?= $(CURDIR)/.tools
NFPM_PKG  := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
CYCLONEDX_PKG := github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0
# helm, for the deploy tests (helm lint, helm template): they take it from
# TOOLS when make tools has put it there.
HELM_PKG  := helm.sh/helm/v3/cmd/helm@v3.22.0
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The HAProxy binaries the end-to-end tests run against, one after the other.
HAPROXY_BINS ?= $(or $(shell command -v haproxy 2>/dev/null),/usr/sbin/haproxy)
HAPROXY_LIST := $(subst :, ,$(HAPROXY_BINS))

.PHONY: all build run test bench bench-e2e bench-replay soak lint clean dist dist-test tools

all: build

## build: static binary ./headcount (CGO_ENABLED=0, version from git)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/headcount

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

## bench-replay: headcount replay vs GoAccess (apt-get install goaccess) on the same 2-million-line NCSA
## combined file, one CPU each (about 2 minutes); LINES=… for another size, ROUNDS=3 for the best of three
bench-replay:
	scripts/bench-replay

## soak: minutes at full rate (SOAK_DURATION, default 3m) with a flat heap, then 10 million sessions expiring
soak:
	$(GO) test -tags soak -run TestSoak -count=1 -v -timeout 30m ./agent/ | grep -E 'soak_test|^(---|ok|FAIL)'

## lint: go vet and staticcheck
lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## dist: the signed release bundle in DISTDIR (default dist/), reproducibly:
## make dist VERSION=x.y.z SIGNING_KEY=release.key.pem (VERSION defaults to the commit's tag)
dist: tools
	GO="$(GO)" SIGNING_KEY="$(SIGNING_KEY)" NFPM="$(TOOLS)/nfpm" CYCLONEDX_GOMOD="$(TOOLS)/cyclonedx-gomod" \
	  scripts/dist "$(VERSION)" "$(DISTDIR)"

## dist-test: make dist twice from a clean clone and check the bundle: identical checksums,
## signature, offline source build, static binary, deb install/upgrade/purge (as root), unit
dist-test: tools
	GO="$(GO)" TOOLS="$(TOOLS)" scripts/dist-test

## tools: the pinned packaging tools (nfpm, cyclonedx-gomod, helm) in TOOLS, from the module proxy
tools: $(TOOLS)/nfpm $(TOOLS)/cyclonedx-gomod $(TOOLS)/helm
$(TOOLS)/helm:
	GOBIN="$(TOOLS)" GOFLAGS= $(GO) install $(HELM_PKG)
$(TOOLS)/nfpm:
	GOBIN="$(TOOLS)" GOFLAGS= $(GO) install $(NFPM_PKG)
$(TOOLS)/cyclonedx-gomod:
	GOBIN="$(TOOLS)" GOFLAGS= $(GO) install $(CYCLONEDX_PKG)

clean:
	rm -f $(BIN)
	rm -rf $(DISTDIR)
