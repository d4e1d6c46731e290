# holdfast: two commands matter. `make run` plays the local demo; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := bin/holdfast
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
AZURITE := node_modules/.bin/azurite-table
# Fuzz budgets are execution counts (Nx), not durations: with a duration,
# go1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when the time runs out while a worker is busy (golang/go#75804,
# fixed in go1.27), which a loaded CI machine hit. A count has no deadline.
FUZZTIME ?= 100000x

.PHONY: all deps build run test test-go fuzz lint vulncheck package clean scenarios bench

all: build

# Azurite is pinned in package.json / package-lock.json and installed here.
$(AZURITE): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(AZURITE)

deps: $(AZURITE)
	$(GO) mod download

build:
	@echo "building $(BIN) (go build: the first build compiles the Azure SDK and msgraph-sdk-go, about 2-3 minutes on 2 cores; later builds take seconds)"
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./functions

# The local stack (Azurite + tenant simulator + handler) playing the demo
# scenario. In a terminal it then keeps serving the Api and the dashboard on
# LISTEN until Ctrl-C; without a terminal (CI, pipes) or with LISTEN= it
# exits after the demo.
LISTEN ?= 127.0.0.1:7071
run: deps build
	@if [ -t 0 ] && [ -n "$(LISTEN)" ]; then \
		./$(BIN) dev --scenario scenarios/demo.json --listen $(LISTEN); \
	else \
		./$(BIN) dev --scenario scenarios/demo.json && \
		echo "Dashboard: run in a terminal to keep serving it at http://$(or $(LISTEN),127.0.0.1:7071)/api/holdfast/ (or: $(BIN) dev --scenario scenarios/demo.json --listen 127.0.0.1:7071)"; \
	fi

scenarios: deps build
	./$(BIN) scenario run scenarios/*.json --quiet

test: deps
	$(GO) vet ./...
	$(GO) test -timeout 25m -count=1 ./...
	$(MAKE) fuzz FUZZTIME=80000x

# Figures against ceilings measured in the same run (docs/performance.md).
bench: deps build
	./$(BIN) bench --out bench/results.json

# Short fuzz runs of the decoders and the scenario parser (no panics).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeInvocation$$' -fuzztime $(FUZZTIME) ./shared/customhandler/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./shared/events/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./shared/testbed/scenario/

lint:
	@out=$$(gofmt -l functions shared infra); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(MAKE) vulncheck

# govulncheck, pinned (v1.1.4 is the newest that builds from the module
# proxy here: later ones need golang.org/x/telemetry, which it refuses).
# Found vulnerabilities fail the target. When the vulnerability database
# cannot be reached (this machine cannot resolve vuln.go.dev) it says so
# loudly and does not pass silently as clean: set GOVULNDB to a mirror,
# or VULNCHECK_REQUIRED=1 to make an unreachable database fail the build.
GOVULNCHECK ?= golang.org/x/vuln/cmd/govulncheck@v1.1.4
vulncheck:
	@out=$$($(GO) run $(GOVULNCHECK) ./... 2>&1); rc=$$?; echo "$$out"; \
	if [ $$rc -ne 0 ] && echo "$$out" | grep -q 'fetching vulnerabilities'; then \
		echo "vulncheck: NOT RUN: the Go vulnerability database is unreachable (set GOVULNDB to a mirror)"; \
		[ -z "$$VULNCHECK_REQUIRED" ]; \
	else exit $$rc; fi

# dist/ is what the Functions host runs: host.json, one folder per function, the linux/amd64 binary.
package:
	rm -rf dist && mkdir -p dist
	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/holdfast ./functions
	chmod 0755 dist/holdfast
	cp host.json dist/
	for f in functions/*/function.json; do d=$$(dirname $$f); mkdir -p dist/$$(basename $$d); cp $$f dist/$$(basename $$d)/; done
	@test -x dist/holdfast && ls -l dist dist/holdfast

clean:
	rm -rf bin dist
