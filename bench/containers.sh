#!/usr/bin/env bash
# containers.sh: launch, stop and delete through the gateway against the
# same steps with lxc, on the same image and the same limits, in one run.
# The gateway is measured through one multiplexed OpenSSH connection
# (ControlMaster), which isolates lxcgate's own overhead, and cold (a new
# connection per command) beside it. Loopback and the lab bridge only.
#
#   bench/containers.sh [ROUNDS]     (default 10; needs scripts/lab.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-10}
IMAGE=lxcgate-busybox
prefix="bench$$-"
. bench/lib.sh
export LXCGATE_CONTAINERS_PROJECT_PREFIX=$prefix LXCGATE_CONTAINERS_CPU=1 LXCGATE_CONTAINERS_MEMORY=256MiB \
	LXCGATE_CONTAINERS_DISK=1GiB LXCGATE_QUOTA_CONTAINERS=100 LXCGATE_PORTS_RANGE=27100-27399
gw_start
lxc_project "${prefix}lxc"
lxcdo() { lxc "$@" --project "${prefix}lxc"; }

mux list >/dev/null 2>&1 # warm-up: the first call makes the user's project
for i in $(seq "$ROUNDS"); do
	time_it lxc.launch lxcdo launch "$IMAGE" "l$i" -c limits.cpu=1 -c limits.memory=256MiB -d root,size=1GiB
	time_it gw.launch mux launch "g$i" --image "$IMAGE"
	time_it cold.launch cold launch "c$i" --image "$IMAGE"
	time_it lxc.stop lxcdo stop "l$i"
	time_it gw.stop mux stop "g$i"
	time_it cold.stop cold stop "c$i"
	time_it lxc.delete lxcdo delete "l$i"
	time_it gw.delete mux delete "g$i" --yes
	time_it cold.delete cold delete "c$i" --yes
done

printf 'lxcgate vs lxc on %s, %d rounds, median ms (ratio = lxcgate / lxc)\n' "$IMAGE" "$ROUNDS"
printf '%-8s %8s %10s %8s %10s %8s\n' step lxc "gw (mux)" ratio "gw (cold)" ratio
for step in launch stop delete; do
	l=$(median "lxc.$step")
	g=$(median "gw.$step")
	c=$(median "cold.$step")
	printf '%-8s %8s %10s %8s %10s %8s\n' "$step" "$l" "$g" "$(ratio "$g" "$l")" "$c" "$(ratio "$c" "$l")"
done
