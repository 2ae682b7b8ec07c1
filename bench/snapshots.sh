#!/usr/bin/env bash
# snapshots.sh: snapshot and restore through the gateway (one multiplexed
# OpenSSH connection) next to lxc snapshot / lxc restore on the same kind of
# container, in one run. Loopback and the lab only.
#
#   bench/snapshots.sh [ROUNDS]     (default 10; needs scripts/lab.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-10}
IMAGE=lxcgate-busybox
prefix="bsnap$$-"
. bench/lib.sh
export LXCGATE_CONTAINERS_PROJECT_PREFIX=$prefix LXCGATE_CONTAINERS_CPU=1 LXCGATE_CONTAINERS_MEMORY=256MiB \
	LXCGATE_CONTAINERS_DISK=1GiB LXCGATE_QUOTA_SNAPSHOTS=1000 LXCGATE_SNAPSHOTS_KEEP=1000 LXCGATE_PORTS_RANGE=27400-27499
gw_start
lxc_project "${prefix}lxc"
lxcdo() { lxc "$@" --project "${prefix}lxc"; }
lxcdo init "$IMAGE" box -c limits.cpu=1 -c limits.memory=256MiB -d root,size=1GiB >/dev/null
mux create box --image "$IMAGE" >/dev/null 2>&1

# Both containers stopped: restore then compares the same LXD work.
for i in $(seq "$ROUNDS"); do
	time_it lxc.snapshot lxcdo snapshot box "s$i"
	time_it gw.snapshot mux snapshot box "s$i"
	time_it lxc.restore lxcdo restore box "s$i"
	time_it gw.restore mux restore box "s$i" --yes
done
printf 'snapshots on %s (btrfs here, ZFS in production), %d rounds, median ms\n' "$IMAGE" "$ROUNDS"
printf '%-10s %8s %10s %8s\n' step lxc "gw (mux)" ratio
for step in snapshot restore; do
	l=$(median "lxc.$step")
	g=$(median "gw.$step")
	printf '%-10s %8s %10s %8s\n' "$step" "$l" "$g" "$(ratio "$g" "$l")"
done
