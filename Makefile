# Everyday targets. The two commands for a fresh machine are in the README:
# scripts/up.sh (a running gateway) and scripts/test.sh (the whole suite).
.PHONY: build test lint check run bench

build:
	go build -o bin/lxcgate ./cmd/lxcgate

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
	bench/containers.sh
	bench/portmap.sh
	bench/snapshots.sh
