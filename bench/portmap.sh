#!/usr/bin/env bash
# portmap.sh: the port-mapping targets, on real nftables and on real
# iptables inside a network namespace of its own (nothing on the host is
# touched). On nftables at 10,000 x 3: map or unmap one container <= 2 ms,
# from empty <= 300 ms, a steady pass <= 10 ms, RSS <= +32 MiB. On iptables at 10,000
# containers x 3 services (30,000 DNAT rules): a reconcile from empty
# <= 1 s, a steady pass (nothing changed) <= 50 ms, mapping or unmapping
# one container <= 10 ms; and the same figures at 1,000 x 3. Beside them,
# measured in the same run: the pass that must read the chains again
# (someone else committed to the ruleset), deletion without netlink (the
# path of the legacy backend), and per-rule iptables calls against batches.
# Mapping one container at 10,000 x 3 is bound by the kernel: the commit
# that adds a rule validates the whole nat table from PREROUTING and from
# OUTPUT (both reach lxcgate's 30,000 rules), about 8 ms a walk here.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "portmap.sh: run as root" >&2; exit 1; }
ns=lxcgate-bench-$$
bin=/tmp/portmap-bench-$$.test
ip netns add "$ns"
trap 'ip netns del "$ns"; rm -f "$bin"' EXIT
go test -c -o "$bin" ./internal/portmap/
# ms NAME N: the benchmark's time per operation in ms, N runs.
ms() {
	ip netns exec "$ns" env LXCGATE_BENCH_NETNS=1 "$bin" -test.run '^$' -test.bench "^Benchmark$1\$" -test.benchtime "$2x" |
		awk '/^Benchmark/ {printf "%.1f", $3/1e6; found=1} END {if (!found) exit 1}'
}
# target LABEL VALUE LIMIT
target() { awk -v l="$1" -v v="$2" -v t="$3" 'BEGIN {printf "  %-40s %8.1f ms   target <= %4d ms  %s\n", l, v, t, (v <= t ? "ok" : "MISSED")}'; }
# versus LABEL VALUE OTHER-LABEL OTHER
versus() { awk -v l="$1" -v v="$2" -v ol="$3" -v o="$4" 'BEGIN {printf "  %-40s %8.1f ms   %s %.1f ms: %.1fx\n", l, v, ol, o, o / v}'; }

# mib NAME: the benchmark's reported MiB-rss.
mib() {
	ip netns exec "$ns" env LXCGATE_BENCH_NETNS=1 "$bin" -test.run '^$' -test.bench "^Benchmark$1\$" -test.benchtime 1x |
		awk '/^Benchmark/ {for (i = 1; i < NF; i++) if ($(i+1) == "MiB-rss") {printf "%.1f", $i; found=1}} END {if (!found) exit 1}'
}

echo "port mapping on nftables, a table of lxcgate's own (google/nftables over netlink), in a private network namespace"
echo "10000 containers x 3 services (30,000 map elements):"
target "map one container" "$(ms NFTMapStartedContainer10000x3 50)" 2
target "unmap one container" "$(ms NFTUnmapStoppedContainer10000x3 50)" 2
target "reconcile from empty (cold)" "$(ms NFTFullReconcileFromEmpty10000x3 5)" 300
target "steady pass (nothing changed)" "$(ms NFTReconcileNothingToChange10000x3 50)" 10
printf "  %-40s %8.1f ms\n" "pass re-reading the map (foreign commit)" "$(ms NFTReconcileRereadMap10000x3 5)"
awk -v v="$(mib NFTMemory10000x3)" 'BEGIN {printf "  %-40s %8.1f MiB  target <= %4d MiB %s\n", "RSS over an empty mapper", v, 32, (v <= 32 ? "ok" : "MISSED")}'
versus "map one container, nftables" "$(ms NFTMapStartedContainer10000x3 50)" "iptables blocks" "$(ms MapStartedContainer10000x3 20)"
echo

echo "port mapping on real iptables ($(iptables -V)), in a private network namespace"
for n in 10000 1000; do
	echo "$n containers x 3 services:"
	target "reconcile from empty" "$(ms FullReconcileFromEmpty${n}x3 3)" 1000
	target "steady pass (nothing changed)" "$(ms ReconcileNothingToChange${n}x3 20)" 50
	if [ "$n" = 10000 ]; then
		target "map one container" "$(ms MapStartedContainer10000x3 20)" 10
		target "unmap one container" "$(ms UnmapStoppedContainer10000x3 20)" 10
		versus "unmap one, netlink by handle" "$(ms UnmapStoppedContainer10000x3 20)" "iptables-restore -D" "$(ms UnmapStoppedContainerNoNetlink10000x3 10)"
		versus "pass re-reading the chains, netlink" "$(ms ReconcileRereadChains10000x3 5)" "iptables -S" "$(ms ReconcileRereadChainsNoNetlink10000x3 3)"
	else
		target "map one container" "$(ms MapStartedContainerBatched 20)" 10
		target "unmap one container" "$(ms UnmapStoppedContainerBatched 20)" 10
		printf "  %-40s %8.1f ms\n" "pass re-reading the chains, netlink" "$(ms ReconcileRereadChains1000x3 10)"
		versus "map one container, one batch" "$(ms MapStartedContainerBatched 20)" "per rule" "$(ms MapStartedContainerPerRule 10)"
		versus "100 x 3 from empty, one batch" "$(ms FullFromEmptyBatched100x3 5)" "per rule" "$(ms FullFromEmptyPerRule100x3 1)"
	fi
done
