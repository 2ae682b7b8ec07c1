#!/usr/bin/env bash
# volumes.sh: a volume made and attached to a running container through the
# gateway (one multiplexed OpenSSH connection) next to 'lxc storage volume
# create' + 'lxc config device add' by hand; and 'volume export' of a
# volume holding SIZE of data over SSH next to 'lxc storage volume export'
# to a file, with the gateway's peak RSS growth. Loopback and the lab only.
#
#   bench/volumes.sh [ROUNDS] [SIZE_MIB] [EXPORTS]
#   (default 10 rounds, 2048 MiB exported 3 times each way; needs scripts/lab.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-10}
SIZE_MIB=${2:-2048}
EXPORTS=${3:-3}
IMAGE=lxcgate-busybox
prefix="bvol$$-"
. bench/lib.sh
# Volumes live in the default project, named PREFIX+owner+"."+name: the
# ones this run made go after its containers.
cleanup_volumes() {
	for v in $(lxc query /1.0/storage-pools/default/volumes/custom | tr -d '[]", ' | tr '\n' ' ' | tr -s ' ' '\n' | sed 's|.*/||' | grep "^$prefix" || true); do
		lxc storage volume delete default "$v" >/dev/null 2>&1 || true
	done
}
trap 'cleanup; cleanup_volumes' EXIT
export LXCGATE_CONTAINERS_PROJECT_PREFIX=$prefix LXCGATE_CONTAINERS_CPU=1 LXCGATE_CONTAINERS_MEMORY=256MiB \
	LXCGATE_CONTAINERS_DISK=1GiB LXCGATE_QUOTA_VOLUMES=1000 LXCGATE_QUOTA_DISK=1TiB LXCGATE_VOLUMES_MAX_SIZE=1TiB \
	LXCGATE_PORTS_RANGE=27500-27599
gw_start
lxc_project "${prefix}lxc"
lxcdo() { lxc "$@" --project "${prefix}lxc"; }
lxcdo launch "$IMAGE" box -c limits.cpu=1 -c limits.memory=256MiB -d root,size=1GiB >/dev/null
mux launch box --image "$IMAGE" --no-wait >/dev/null 2>&1

by_hand() {
	lxc storage volume create default "${prefix}lxc.v$1" size=64MiB >/dev/null
	lxcdo config device add box "v$1" disk pool=default source="${prefix}lxc.v$1" path="/mnt/v$1" >/dev/null
}
through_gw() {
	mux volume create "v$1" --size 64MiB
	mux volume attach "v$1" box
}
for i in $(seq "$ROUNDS"); do
	time_it lxc.attach by_hand "$i"
	time_it gw.attach through_gw "$i"
done

# A volume holding SIZE_MIB of random data, exported both ways.
mux volume create big --size "$((SIZE_MIB + 256))MiB" >/dev/null 2>&1
mux volume attach big box /big >/dev/null 2>&1
lxc exec box --project "${prefix}bench" -- dd if=/dev/urandom of=/big/data bs=1M count="$SIZE_MIB" 2>/dev/null
mux volume detach big box >/dev/null 2>&1
pid=$(pgrep -f "^$tmp/lxcgate --data $tmp/gw serve")
rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
before=$(rss VmRSS)
# The client picks the cipher. x/crypto has AES-GCM in assembly on amd64
# but ChaCha20 in plain Go, so a bulk stream is cheaper with AES-GCM;
# both are timed.
gw_export() { mux volume export big >"$tmp/gw.tar.gz"; }
gw_export_aes() {
	ssh "${sshopts[@]}" -o ControlPath=none -c aes128-gcm@openssh.com bench@127.0.0.1 volume export big >"$tmp/gw.tar.gz"
}
for i in $(seq "$EXPORTS"); do
	time_it lxc.export lxc storage volume export default "${prefix}bench.big" "$tmp/lxc.tar.gz"
	rm -f "$tmp/lxc.tar.gz"
	time_it gw.export gw_export
	time_it gw.export.aes gw_export_aes
done
peak=$(rss VmHWM)
gz=$(stat -c %s "$tmp/gw.tar.gz")
rm -f "$tmp/gw.tar.gz"

printf 'volume create + attach to a running %s, %d rounds, median ms\n' "$IMAGE" "$ROUNDS"
printf '%-16s %8s %10s %8s\n' step lxc "gw (mux)" ratio
l=$(median lxc.attach)
g=$(median gw.attach)
printf '%-16s %8s %10s %8s\n' "create+attach" "$l" "$g" "$(ratio "$g" "$l")"
l=$(median lxc.export)
g=$(median gw.export)
a=$(median gw.export.aes)
printf 'export of %d MiB of data (%d MiB gzip'"'"'d), median of %d, ms: lxc %s, gw %s (ssh default cipher), %s (aes128-gcm)\n' \
	"$SIZE_MIB" "$((gz >> 20))" "$EXPORTS" "$l" "$g" "$a"
printf 'throughput ratio gw/lxc: %s (default cipher), %s (aes128-gcm)\n' "$(ratio "$l" "$g")" "$(ratio "$l" "$a")"
printf 'gateway RSS: %d MiB before, peak %d MiB: growth at most %d MiB\n' "$((before >> 10))" "$((peak >> 10))" "$(((peak - before) >> 10))"
