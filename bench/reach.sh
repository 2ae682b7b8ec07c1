#!/usr/bin/env bash
# reach.sh: launch to reachable. 'launch' of the Debian image through the
# gateway until its published ssh port answers from the client namespace,
# against 'lxc launch' of the same image with the same limits plus a DNAT
# rule made by hand, until that port answers; in one run, interleaved.
#
#   bench/reach.sh [ROUNDS]     (default 5; needs scripts/lab.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
IMAGE=lxcgate-debian
prefix="bench$$-"
. bench/lib.sh
HOST=10.177.0.1 # the host as the client namespace sees it
export LXCGATE_CONTAINERS_PROJECT_PREFIX=$prefix LXCGATE_CONTAINERS_CPU=1 LXCGATE_CONTAINERS_MEMORY=512MiB \
	LXCGATE_CONTAINERS_DISK=2GiB LXCGATE_QUOTA_CONTAINERS=100 LXCGATE_QUOTA_CPU=100 LXCGATE_QUOTA_MEMORY=100GiB \
	LXCGATE_QUOTA_DISK=1TiB LXCGATE_PORTS_RANGE=27600-27699 LXCGATE_PORTS_CHAIN_PREFIX=BENCHRCH \
	LXCGATE_PORTS_PUBLIC_ADDRESS=$HOST
gw_start
lxc_project "${prefix}lxc"
trap 'iptables -t nat -F BENCHHAND 2>/dev/null; iptables -t nat -D PREROUTING -j BENCHHAND 2>/dev/null; iptables -t nat -X BENCHHAND 2>/dev/null; "$tmp/lxcgate" --data "$tmp/gw" portmap flush 2>/dev/null; cleanup' EXIT
iptables -t nat -N BENCHHAND
iptables -t nat -I PREROUTING -j BENCHHAND

# answers PORT: the port takes a TCP connection from the client namespace
# and says SSH.
answers() { ip netns exec lxcgate-client timeout 1 bash -c "exec 3<>/dev/tcp/$HOST/$1 && head -c 4 <&3" 2>/dev/null | grep -q SSH; }
wait_port() { for _ in $(seq 600); do answers "$1" && return 0; sleep 0.05; done; echo "port $1 never answered" >&2; exit 1; }

by_hand() { # NAME PORT: lxc launch, its lease, a DNAT rule
	lxc launch "$IMAGE" "$1" --project "${prefix}lxc" -c limits.cpu=1 -c limits.memory=512MiB -d root,size=2GiB >/dev/null
	local ip=
	while [ -z "$ip" ]; do
		ip=$(lxc list "$1" --project "${prefix}lxc" -c 4 --format csv | cut -d' ' -f1)
		[ -n "$ip" ] || sleep 0.05
	done
	iptables -t nat -A BENCHHAND -p tcp --dport "$2" -j DNAT --to-destination "$ip:22"
	wait_port "$2"
}
through_gw() { # NAME
	mux launch "$1" --image "$IMAGE" --no-wait >/dev/null 2>&1
	local hp
	hp=$(mux ports "$1" --json | python3 -c 'import json,sys; print([p["host_port"] for p in json.load(sys.stdin) if p["container_port"]==22][0])')
	wait_port "$hp"
}

mux list >/dev/null 2>&1 # the user's project exists before the first round
for i in $(seq "$ROUNDS"); do
	time_it lxc.reach by_hand "l$i" $((27700 + i))
	time_it gw.reach through_gw "g$i"
done
printf 'launch of %s to its ssh port answering, %d rounds, median ms (ratio = lxcgate / lxc + DNAT)\n' "$IMAGE" "$ROUNDS"
l=$(median lxc.reach)
g=$(median gw.reach)
printf '%-8s %10s %10s %8s\n' step "lxc+DNAT" lxcgate ratio
printf '%-8s %10s %10s %8s\n' reach "$l" "$g" "$(ratio "$g" "$l")"
