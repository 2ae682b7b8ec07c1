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
[ "$(id -u)" = 0 ] || { echo "snapshots.sh: run as root" >&2; exit 1; }
scripts/lab.sh status >/dev/null || { echo "snapshots.sh: the lab is down; run scripts/lab.sh up" >&2; exit 1; }

tmp=$(mktemp -d)
prefix="bsnap$$-"
lxcproject="${prefix}lxc"
cleanup() {
	ssh -o ControlPath="$tmp/cm" -O exit x 2>/dev/null || true
	kill $(jobs -p) 2>/dev/null || true
	wait 2>/dev/null || true
	for p in $(lxc project list --format csv | cut -d, -f1 | sed 's/ (current)//' | grep "^$prefix" || true); do
		for n in $(lxc list --project "$p" --format csv -c n); do lxc delete --force --project "$p" "$n" >/dev/null; done
		lxc project delete "$p" >/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$tmp/lxcgate" ./cmd/lxcgate
ssh-keygen -q -t ed25519 -N '' -f "$tmp/key"
port=$(free_port)
export LXCGATE_CONTAINERS_PROJECT_PREFIX=$prefix LXCGATE_CONTAINERS_CPU=1 LXCGATE_CONTAINERS_MEMORY=256MiB \
	LXCGATE_CONTAINERS_DISK=1GiB LXCGATE_QUOTA_SNAPSHOTS=1000 LXCGATE_SNAPSHOTS_KEEP=1000 LXCGATE_LOG_LEVEL=warn \
	LXCGATE_PORTS_RANGE=27000-27099
echo 'bench-password' | "$tmp/lxcgate" --data "$tmp/gw" user add bench --password-stdin 2>/dev/null
"$tmp/lxcgate" --data "$tmp/gw" user key add bench <"$tmp/key.pub" 2>/dev/null
"$tmp/lxcgate" --data "$tmp/gw" serve --listen "127.0.0.1:$port" 2>"$tmp/gw.log" &
sleep 1
lxc project create "$lxcproject" -c features.images=false -c features.profiles=false \
	-c features.storage.volumes=false >/dev/null
sshopts=(-F /dev/null -p "$port" -i "$tmp/key" -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes
	-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)
ssh "${sshopts[@]}" -o ControlMaster=yes -o ControlPath="$tmp/cm" -o ControlPersist=600 -fN bench@127.0.0.1
mux() { ssh "${sshopts[@]}" -o ControlPath="$tmp/cm" bench@127.0.0.1 "$@"; }
lxcdo() { lxc "$@" --project "$lxcproject"; }

lxcdo init "$IMAGE" box -c limits.cpu=1 -c limits.memory=256MiB -d root,size=1GiB >/dev/null
mux create box --image "$IMAGE" >/dev/null 2>&1

time_it() {
	local f=$1
	shift
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null 2>"$tmp/last.err" || { echo "failed: $*" >&2; cat "$tmp/last.err" >&2; exit 1; }
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000)) >>"$tmp/$f"
}
# Both containers stopped: restore then compares the same LXD work.
for i in $(seq "$ROUNDS"); do
	time_it lxc.snapshot lxcdo snapshot box "s$i"
	time_it gw.snapshot mux snapshot box "s$i"
	time_it lxc.restore lxcdo restore box "s$i"
	time_it gw.restore mux restore box "s$i" --yes
done
median() { sort -n "$tmp/$1" | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'; }
printf 'snapshots on %s (btrfs here, ZFS in production), %d rounds, median ms\n' "$IMAGE" "$ROUNDS"
printf '%-10s %8s %10s %8s\n' step lxc "gw (mux)" ratio
for step in snapshot restore; do
	l=$(median "lxc.$step")
	g=$(median "gw.$step")
	printf '%-10s %8s %10s %8s\n' "$step" "$l" "$g" "$(awk -v a="$g" -v b="$l" 'BEGIN{printf "%.3f", a/b}')"
done
