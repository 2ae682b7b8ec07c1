#!/usr/bin/env bash
# web.sh: GET /api/v1/containers against 'ssh gw list --json' on the same
# gateway, the same user and the same containers, in one run. The SSH side
# is measured through one multiplexed connection (ControlMaster) and cold
# (a new connection per command); the API side with a new curl process and
# connection per request. Loopback and the lab bridge only.
#
#   bench/web.sh [ROUNDS] [CONTAINERS]     (defaults 30 and 3; needs scripts/lab.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-30}
BOXES=${2:-3}
IMAGE=lxcgate-busybox
prefix="benchweb$$-"
. bench/lib.sh
web_port=$(free_port)
export LXCGATE_CONTAINERS_PROJECT_PREFIX=$prefix LXCGATE_CONTAINERS_CPU=1 LXCGATE_CONTAINERS_MEMORY=256MiB \
	LXCGATE_CONTAINERS_DISK=1GiB LXCGATE_QUOTA_CONTAINERS=100 LXCGATE_PORTS_RANGE=27400-27699 \
	LXCGATE_WEB_LISTEN=127.0.0.1:$web_port
gw_start

for i in $(seq "$BOXES"); do mux launch "w$i" --image "$IMAGE" >/dev/null 2>&1; done
token=$(mux token create --name bench 2>/dev/null | tail -n 1)
api() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$web_port/api/v1/containers"; }
# Both sides list the same containers in the same shape.
[ "$(api | python3 -c 'import json,sys; print(sorted(c["name"] for c in json.load(sys.stdin)))')" = \
	"$(mux list --json | python3 -c 'import json,sys; print(sorted(c["name"] for c in json.load(sys.stdin)))')" ] ||
	{ echo "the API and list --json differ" >&2; exit 1; }

api >/dev/null # warm-up
for _ in $(seq "$ROUNDS"); do
	time_it api.list api
	time_it mux.list mux list --json
	time_it cold.list cold list --json
done

printf 'GET /api/v1/containers vs ssh list --json, %d containers, %d rounds, median ms\n' "$BOXES" "$ROUNDS"
a=$(median api.list)
m=$(median mux.list)
c=$(median cold.list)
printf '%-26s %8s\n' "api (curl, new conn)" "$a" "ssh list --json (mux)" "$m" "ssh list --json (cold)" "$c"
printf 'ratio api / ssh mux: %s, api / ssh cold: %s\n' "$(ratio "$a" "$m")" "$(ratio "$a" "$c")"
