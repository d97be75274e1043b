# Herald developer tasks. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO       ?= go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# Expanded once here, so that git describe runs once and every use agrees.
VERSION  := $(VERSION)
# The commit, its time and whether the tree is modified: `herald version` shows
# what the Go toolchain stamped (vcs.* build settings) and falls back to these
# when it stamped nothing (-buildvcs=false).
COMMIT      := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
COMMIT_TIME := $(shell TZ=UTC git show -s --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd HEAD 2>/dev/null)
MODIFIED    := $(shell test -z "$$(git status --porcelain 2>/dev/null)" || echo true)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.commitTime=$(COMMIT_TIME) -X main.treeModified=$(MODIFIED)
FUZZTIME ?= 10s
# make dist: static binaries (CGO_ENABLED=0; the SQLite driver is pure Go) for these os/arch pairs.
PLATFORMS ?= linux/amd64 linux/arm64 darwin/arm64

.PHONY: run build dist test deps vet test-go test-compat test-browser bench fuzz clean

run:
	$(GO) run ./cmd/herald serve

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/herald ./cmd/herald

# dist/herald_<version>_<os>_<arch> for each of $(PLATFORMS), and dist/SHA256SUMS.
# -trimpath keeps the build machine's paths out of the binaries. Release: make dist VERSION=v1.2.3
dist:
	rm -rf dist && mkdir -p dist
	for p in $(PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; \
	  echo "dist/herald_$(VERSION)_$${os}_$${arch}"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" \
	    -o "dist/herald_$(VERSION)_$${os}_$${arch}" ./cmd/herald; \
	done
	cd dist && sha256sum herald_* > SHA256SUMS
	@ls -l dist

deps:
	scripts/install-deps.sh

# Modules of their own inside the repository: the Go SDK (so that apps importing it do not pull the
# server's dependencies), the chat example (built on that SDK), the official Go SDK's tests and the
# transport experiment bench/wsidle. `go ... ./...` at the root does not enter them.
MODULES := pusher examples/chat test/sdkgo bench/wsidle

vet:
	$(GO) vet ./...
	for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done

# Each step prints its runner's own summary; the first failing step fails make.
test: deps vet test-go test-compat test-browser

# The benchmarks run once each (-benchtime=1x), so one that no longer works fails CI too.
# test/sdkgo tests both Go SDKs (pusher-http-go and ./pusher) against a herald it builds.
test-go:
	$(GO) test -race -count=1 ./...
	@out=$$($(GO) test -run='^$$' -bench=. -benchtime=1x ./... 2>&1) || { echo "$$out"; exit 1; }; echo "benchmarks: all ran once"
	for m in $(MODULES); do (cd $$m && echo "== $$m" && GO=$(GO) $(GO) test -race -count=1 ./...); done

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
	for mod in . pusher; do \
	  for pkg in $$(cd $$mod && $(GO) list ./...); do \
	    list=$$(cd $$mod && $(GO) test -list='^Fuzz' "$$pkg") || { echo "fuzz: cannot list $$pkg"; exit 1; }; \
	    for fn in $$(echo "$$list" | grep '^Fuzz' || true); do \
	      found=1; \
	      echo "== $$pkg $$fn ($(FUZZTIME))"; \
	      (cd $$mod && $(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) "$$pkg") || failed="$$failed $$pkg.$$fn"; \
	    done; \
	  done; \
	done; \
	if [ $$found = 0 ]; then echo "no fuzz targets"; fi; \
	if [ -n "$$failed" ]; then echo "fuzz: found failures in:$$failed"; exit 1; fi

clean:
	rm -rf bin dist test/compat/artifacts test/browser/artifacts
