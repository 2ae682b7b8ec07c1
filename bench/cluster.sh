#!/usr/bin/env bash
# cluster.sh: 'list' through a gateway on the single-host lab against the
# same through a gateway on the lab's 3-member LXD cluster, in one run,
# each with the same number of containers (on the cluster spread over the
# members by placement). Both through one multiplexed OpenSSH connection.
#
#   bench/cluster.sh [CONTAINERS] [ROUNDS]   (default 6 and 20; needs
#   scripts/lab.sh up and scripts/lab.sh cluster up)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-6}
ROUNDS=${2:-20}
prefix="bench$$-"
. bench/lib.sh
cfg=$(scripts/lab.sh cluster status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["config"])') ||
	{ echo "$0: the lab cluster is down; run scripts/lab.sh cluster up" >&2; exit 1; }
nested() { lxc exec labcluster-m1 --project labcluster -- lxc "$@"; }
cluster_cleanup() {
	ssh -o ControlPath="$tmp/cm2" -O exit x 2>/dev/null || true
	for p in $(nested project list --format csv | cut -d, -f1 | sed 's/ (current)//' | grep "^$prefix" || true); do
		for n in $(nested list --project "$p" --format csv -c n); do nested delete --force --project "$p" "$n" >/dev/null; done
		nested project delete "$p" >/dev/null
	done
	LXCGATE_PORTS_CHAIN_PREFIX=BENCHCL "$tmp/lxcgate" --data "$tmp/cgw" portmap flush 2>/dev/null || true
	cleanup
}
trap cluster_cleanup EXIT

export LXCGATE_CONTAINERS_PROJECT_PREFIX=$prefix LXCGATE_CONTAINERS_CPU=1 LXCGATE_CONTAINERS_MEMORY=256MiB \
	LXCGATE_CONTAINERS_DISK=1GiB LXCGATE_QUOTA_CONTAINERS=100 LXCGATE_QUOTA_CPU=100 LXCGATE_QUOTA_MEMORY=100GiB \
	LXCGATE_QUOTA_DISK=1TiB LXCGATE_PORTS_RANGE=27400-27499
gw_start
for i in $(seq "$N"); do mux launch "s$i" --image lxcgate-busybox >/dev/null 2>&1; done

# The cluster's gateway: its own data, chains and port range.
cport=$(free_port)
echo 'bench-password' | "$tmp/lxcgate" --data "$tmp/cgw" user add bench --password-stdin 2>/dev/null
"$tmp/lxcgate" --data "$tmp/cgw" user key add bench <"$tmp/key.pub" 2>/dev/null
LXCGATE_CONFIG=$cfg LXCGATE_PORTS_RANGE=31900-31999 LXCGATE_PORTS_CHAIN_PREFIX=BENCHCL LXCGATE_LOG_LEVEL=warn \
	"$tmp/lxcgate" --data "$tmp/cgw" serve --listen "127.0.0.1:$cport" 2>"$tmp/cgw.log" &
sleep 1
copts=("${sshopts[@]/#$port/$cport}")
ssh "${copts[@]}" -o ControlMaster=yes -o ControlPath="$tmp/cm2" -o ControlPersist=600 -fN bench@127.0.0.1
cmux() { ssh "${copts[@]}" -o ControlPath="$tmp/cm2" bench@127.0.0.1 "$@"; }
for i in $(seq "$N"); do cmux launch "c$i" >/dev/null 2>&1; done
cmux list | awk 'NR>1 {print $NF}' | sort | uniq -c | sed 's/^/  on /' >&2

for i in $(seq "$ROUNDS"); do
	time_it single.list mux list
	time_it cluster.list cmux list
	time_it single.json mux list --json
	time_it cluster.json cmux list --json
done
printf "'list' with %d containers, %d rounds, median ms (ratio = cluster / single host)\n" "$N" "$ROUNDS"
printf '%-12s %8s %8s %8s\n' command single cluster ratio
for c in list json; do
	s=$(median "single.$c")
	k=$(median "cluster.$c")
	name=list
	[ "$c" = json ] && name="list --json"
	printf '%-12s %8s %8s %8s\n' "$name" "$s" "$k" "$(ratio "$k" "$s")"
done
