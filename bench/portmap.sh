#!/usr/bin/env bash
# portmap.sh: the port-mapping targets, on real iptables inside a network
# namespace of its own (nothing on the host is touched):
#   1000 containers x 3 services: full reconcile from empty <= 1 s,
#   a reconcile with nothing to change <= 50 ms, one container mapped <= 20 ms;
# with per-rule (one iptables call per rule) and batched (iptables-restore)
# figures side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "portmap.sh: run as root" >&2; exit 1; }
ns=lxcgate-bench-$$
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
go test -c -o "/tmp/portmap-bench-$$.test" ./internal/portmap/
trap 'ip netns del "$ns"; rm -f /tmp/portmap-bench-$$.test' EXIT
run() { ip netns exec "$ns" env LXCGATE_BENCH_NETNS=1 "/tmp/portmap-bench-$$.test" -test.run '^$' -test.bench "$1" -test.benchtime "$2" | awk '/^Benchmark/ {printf "%-45s %10.1f ms\n", $1, $3/1e6}'; }
echo "port mapping on real iptables (nft backend), in a private network namespace"
run 'FullReconcileFromEmpty1000x3' 5x
run 'ReconcileNothingToChange1000x3' 20x
run 'MapStartedContainerBatched' 20x
run 'MapStartedContainerPerRule' 20x
run 'UnmapStoppedContainerBatched' 10x
run 'UnmapStoppedContainerPerRule' 5x
run 'FullFromEmptyBatched100x3' 5x
run 'FullFromEmptyPerRule100x3' 1x
