# headcount — `make test` is the one command that proves the project.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := ./headcount
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build run test bench bench-e2e soak lint clean

all: build

## build: static binary ./headcount (CGO_ENABLED=0, version from git)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/headcount

## run: build and start the agent on ./headcount.db (SPOP 127.0.0.1:12345, admin 127.0.0.1:9345)
run: build
	$(BIN) serve --db ./headcount.db --log-format console

## test: vet, race-enabled unit tests with fuzz seeds, and the end-to-end tests with a real HAProxy
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 10m ./...

## bench: the Go benchmarks (1 and 2 goroutines) as a table (about 2 minutes)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1,2 -benchtime 1s -timeout 20m ./... | awk -f scripts/benchtable.awk

## bench-e2e: HAProxy alone vs headcount per-request and heartbeat modes, with wrk (about 2 minutes)
bench-e2e:
	scripts/bench-e2e

## soak: minutes at full rate (SOAK_DURATION, default 3m) with a flat heap, then 10 million sessions expiring
soak:
	$(GO) test -tags soak -run TestSoak -count=1 -v -timeout 30m ./agent/ | grep -E 'soak_test|^(---|ok|FAIL)'

## lint: go vet and staticcheck
lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -f $(BIN)
