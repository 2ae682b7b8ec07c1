# Everyday targets. The two commands for a fresh machine are in the README:
# scripts/up.sh (a running gateway) and scripts/test.sh (the whole suite).
.PHONY: build test lint check run bench deb

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)

build:
	go build -ldflags "-X main.version=$(VERSION)" -o bin/lxcgate ./cmd/lxcgate

# dist/lxcgate_VERSION_ARCH.deb (tools/mkdeb: nfpm as a library)
deb:
	go run ./tools/mkdeb -version $(VERSION)

test:
	go test -race ./internal/... ./cmd/...

lint:
	@test -z "$$(gofmt -l .)" || (gofmt -l .; exit 1)
	go vet ./...

check:
	scripts/test.sh

run:
	scripts/up.sh

bench:
	bench/login.sh
	bench/logins.sh
	bench/sessions.sh
	bench/containers.sh
	bench/portmap.sh
	bench/snapshots.sh
	bench/volumes.sh
	bench/cluster.sh
	bench/reach.sh
	bench/flow.sh
	bench/web.sh
	bench/direct.sh
