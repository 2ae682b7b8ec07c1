#!/usr/bin/env bash
# up.sh: one command from a fresh Debian/Ubuntu machine to a running
# gateway: the LXD lab, a build of lxcgate, and "lxcgate serve" in the
# foreground (Ctrl-C or SIGTERM drains and stops it).
#   LXCGATE_DATA   data directory (default /var/lib/lxcgate)
#   LXCGATE_CONFIG configuration file (optional)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/lab.sh up
command -v go >/dev/null || { echo "up: Go 1.26 or newer is needed (https://go.dev/dl/)" >&2; exit 1; }
mkdir -p bin
go build -o bin/lxcgate ./cmd/lxcgate
export LXCGATE_DATA=${LXCGATE_DATA:-/var/lib/lxcgate}
export LXCGATE_CONTAINERS_NAT=${LXCGATE_CONTAINERS_NAT:-false} # the lab's bridge has no NAT
exec bin/lxcgate serve "$@"
