# Herald developer tasks. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO       ?= go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
FUZZTIME ?= 10s

.PHONY: run build test deps vet test-go test-compat test-browser bench fuzz clean

run:
	$(GO) run ./cmd/herald serve

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/herald ./cmd/herald

deps:
	scripts/install-deps.sh

vet:
	$(GO) vet ./...

# Each step prints its runner's own summary; the first failing step fails make.
test: deps vet test-go test-compat test-browser

# The benchmarks run once each (-benchtime=1x), so one that no longer works fails CI too.
test-go:
	$(GO) test -race -count=1 ./...
	@out=$$($(GO) test -run='^$$' -bench=. -benchtime=1x ./... 2>&1) || { echo "$$out"; exit 1; }; echo "benchmarks: all ran once"

test-compat: deps
	cd test/compat && npm test

# examples/chat in Debian's Chromium (playwright-core); screenshots in test/browser/artifacts.
test-browser: deps
	cd test/browser && npm test

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

# Runs every Fuzz* target for $(FUZZTIME) each (go test allows one -fuzz target per run). A target
# that finds something does not stop the others; the run fails at the end, naming them. A package
# that does not compile fails the run too (its targets would otherwise be skipped silently).
fuzz:
	@found=0; failed=""; \
	for pkg in $$($(GO) list ./...); do \
	  list=$$($(GO) test -list='^Fuzz' "$$pkg") || { echo "fuzz: cannot list $$pkg"; exit 1; }; \
	  for fn in $$(echo "$$list" | grep '^Fuzz' || true); do \
	    found=1; \
	    echo "== $$pkg $$fn ($(FUZZTIME))"; \
	    $(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) "$$pkg" || failed="$$failed $$pkg.$$fn"; \
	  done; \
	done; \
	if [ $$found = 0 ]; then echo "no fuzz targets"; fi; \
	if [ -n "$$failed" ]; then echo "fuzz: found failures in:$$failed"; exit 1; fi

clean:
	rm -rf bin test/compat/artifacts test/browser/artifacts
