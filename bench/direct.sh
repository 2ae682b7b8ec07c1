#!/usr/bin/env bash
# direct.sh: logins into containers (USER+CONTAINER@gw) against what a
# member has without them, in one run, every client in the lab's client
# namespace (the gateway listens on the host's address there):
#  - SFTP of SIZE up and down through bench+box@gw (the image's sftp-server
#    through LXD exec) against OpenSSH's sftp straight to the container's
#    sshd through its published port (kernel DNAT; target >= 0.8x the
#    throughput) and through the gateway with -J (target >= 1.0x); the
#    median of RUNS each, with the CPU each transfer cost the gateway, LXD,
#    the container and the whole machine;
#  - the gateway's RSS growth during such a transfer (target <= 32 MiB);
#  - 'ssh bench+box@gw true' against 'ssh -J bench@gw ubuntu@box true'
#    (median of LOGINS; target <= 1.0x the wall time);
#  - SESSIONS exec sessions at once into 10 BusyBox containers of 10 users
#    (bench/directload): no error, p50 and p99 reported; beside it, the
#    same burst by 'lxc exec' on the host.
# Every client uses OpenSSH's default cipher (chacha20-poly1305).
#
#   bench/direct.sh [SIZE_MIB] [RUNS] [LOGINS] [SESSIONS]
#   (default 1024 MiB, 3 runs, 20 logins, 100 sessions; 0 skips that part;
#   needs scripts/lab.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
RUNS=${2:-3}
LOGINS=${3:-20}
SESSIONS=${4:-100}
IMAGE=lxcgate-debian
HOST=10.177.0.1 # the host as the client namespace sees it
gw_host=$HOST
prefix="bdir$$-"
. bench/lib.sh
export LXCGATE_CONTAINERS_PROJECT_PREFIX=$prefix LXCGATE_CONTAINERS_CPU=2 LXCGATE_CONTAINERS_MEMORY=1GiB \
	LXCGATE_CONTAINERS_DISK=$((SIZE_MIB + 1024))MiB LXCGATE_QUOTA_DISK=1TiB \
	LXCGATE_PORTS_RANGE=27400-27499 LXCGATE_PORTS_CHAIN_PREFIX=BENCHDIR LXCGATE_PORTS_PUBLIC_ADDRESS=$HOST \
	LXCGATE_SSH_MAX_SESSIONS=$((SESSIONS * 2 + 50)) LXCGATE_SSH_MAX_SESSIONS_PER_USER=$((SESSIONS / 10 + 20)) \
	LXCGATE_SSH_MAX_CONNECTIONS=$((SESSIONS * 2 + 50)) LXCGATE_SSH_MAX_CONNECTIONS_PER_ADDRESS=$((SESSIONS * 2 + 50)) \
	LXCGATE_SSH_MAX_UNAUTHENTICATED_PER_ADDRESS=$((SESSIONS * 2 + 50))
trap '"$tmp/lxcgate" --data "$tmp/gw" portmap flush 2>/dev/null; cleanup' EXIT
go build -o "$tmp/directload" ./bench/directload
"$tmp/directload" setup -data "$tmp/gw" -users 10 # before the gateway opens its database
gw_start
pid=$(pgrep -f "^$tmp/lxcgate --data $tmp/gw serve")
cl() { ip netns exec lxcgate-client "$@"; }

mux launch box --image "$IMAGE" >/dev/null 2>&1
mux key box >"$tmp/box.key" 2>/dev/null && chmod 600 "$tmp/box.key"
hp=$(mux details box --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print([p["host_port"] for p in d["ports"] if p["container_port"]==22][0])')
# One client configuration for every path: "gw" is the gateway as bench,
# "direct" the login into box through it, "port" box's sshd through its
# published port, "box" box's sshd by name (with -J gw).
cat >"$tmp/ssh_config" <<EOF
Host gw
    HostName $HOST
    Port $port
    User bench
    IdentityFile $tmp/key
Host direct
    HostName $HOST
    Port $port
    User bench+box
    IdentityFile $tmp/key
Host port
    HostName $HOST
    Port $hp
    User ubuntu
    IdentityFile $tmp/box.key
Host box
    User ubuntu
    IdentityFile $tmp/box.key
Host *
    IdentitiesOnly yes
    IdentityAgent none
    BatchMode yes
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    LogLevel ERROR
    ControlPath none
    ConnectTimeout 10
EOF
cssh() { cl ssh -F "$tmp/ssh_config" "$@"; }
for _ in $(seq 300); do cssh port true 2>/dev/null && break; sleep 0.2; done # sshd boots
cssh port true && cssh direct true && cssh -J gw ubuntu@box true

# CPU use, in clock ticks (1/100 s): a process's own, a container's
# (cpuacct, ns), the whole machine's busy time.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
lxd_pid() { pgrep -of -- '--logfile /var/log/lxd-lab.log' || pgrep -ox lxd; } # looked up each time: the lab may restart it
ct_ticks() { echo $(($(cat "/sys/fs/cgroup/cpuacct/lxc.payload.${prefix}bench_box/cpuacct.usage") / 10000000)); }
busy() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
probes() { echo "$(ticks "$pid") $(ticks "$(lxd_pid)") $(ct_ticks) $(busy)"; }
rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }

# xfer PATH DIR: one SIZE transfer with OpenSSH's sftp, timed, with the
# CPU it took (gw, lxd, container, machine) appended to cpu.PATH.DIR; for
# the gateway's own route, its RSS growth (peak since the reset of its
# high-water mark, minus before) goes to rss.
xfer() {
	local path=$1 dir=$2 cmd a b
	if [ "$dir" = up ]; then cmd="put $tmp/src /tmp/bench.dat"; else cmd="get /tmp/bench.dat $tmp/dl"; fi
	local dest=(direct)
	case $path in port) dest=(port) ;; jump) dest=(-J gw ubuntu@box) ;; esac
	echo 5 >"/proc/$pid/clear_refs" # VmHWM := VmRSS
	local before
	before=$(rss VmRSS)
	a=$(probes)
	time_it "$path.$dir" cl sftp -F "$tmp/ssh_config" -q -b - "${dest[@]}" <<<"$cmd"
	b=$(probes)
	[ "$path" != gw ] || echo $(($(rss VmHWM) - before)) >>"$tmp/rss"
	echo "$a $b" | awk '{printf "%d %d %d %d\n", $5 - $1, $6 - $2, $7 - $3, $8 - $4}' >>"$tmp/cpu.$path.$dir"
	if [ "$dir" = down ]; then cmp -s "$tmp/src" "$tmp/dl" || { echo "direct.sh: $path download differs" >&2; exit 1; }; fi
}

sftp_bench() {
	head -c "$((SIZE_MIB << 20))" /dev/urandom >"$tmp/src"
	for _ in $(seq "$RUNS"); do
		for path in gw port jump; do
			xfer "$path" up
			xfer "$path" down
		done
	done
	rm -f "$tmp/src" "$tmp/dl"
	local size=$SIZE_MIB
	printf 'SFTP of %d MiB with OpenSSH sftp, median of %d, MiB/s (ratio = through bench+box@gw / the other)\n' "$size" "$RUNS"
	printf '%-6s %9s %9s %7s %9s %7s   %s\n' way "gw route" "pub port" ratio "-J gw" ratio "CPU s per transfer (gateway, lxd, container, machine): gw route | pub port | -J gw"
	for dir in up down; do
		local g p j
		g=$(mibs "$size" "$(median gw.$dir)")
		p=$(mibs "$size" "$(median port.$dir)")
		j=$(mibs "$size" "$(median jump.$dir)")
		printf '%-6s %9s %9s %7s %9s %7s   %s | %s | %s\n' "$dir" "$g" "$p" "$(ratio "$g" "$p")" "$j" "$(ratio "$g" "$j")" \
			"$(cpu gw.$dir)" "$(cpu port.$dir)" "$(cpu jump.$dir)"
	done
	for dir in up down; do
		target "gw route / published port, $dir" "$(ratio "$(median port.$dir)" "$(median gw.$dir)")" ">=" 0.8
		target "gw route / -J gw, $dir" "$(ratio "$(median jump.$dir)" "$(median gw.$dir)")" ">=" 1.0
	done
	local growth
	growth=$(sort -n "$tmp/rss" | tail -1)
	target "gateway RSS growth in a transfer, MiB (the most of $((RUNS * 2)))" "$(awk -v k="$growth" 'BEGIN{printf "%.1f", k/1024}')" "<=" 32
}
mibs() { awk -v s="$1" -v ms="$2" 'BEGIN{printf "%.1f", s * 1000 / ms}'; }
# cpu LABEL: the median CPU seconds of each kind over LABEL's transfers.
cpu() {
	local out=() i
	for i in 1 2 3 4; do out+=("$(cut -d' ' -f$i "$tmp/cpu.$1" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/100}')"); done
	echo "${out[*]}"
}
# target LABEL VALUE OP LIMIT
target() { awk -v l="$1" -v v="$2" -v op="$3" -v t="$4" 'BEGIN {ok = (op == ">=" ? v >= t : v <= t)
	printf "  %-58s %8.2f   target %s %s  %s\n", l, v, op, t, (ok ? "ok" : "MISSED")}'; }

# lxc_burst: the same burst by 'lxc exec' as uid 1000 on the host, no
# gateway: what LXD itself gives on this machine. lxc passes SIGTERM on to
# the process inside, so one that hangs is killed after 60 s.
lxc_burst() {
	local i pids=()
	for i in $(seq 0 $((SESSIONS - 1))); do
		(
			t0=$(date +%s%N)
			out=$(timeout -s KILL 60 lxc exec --project "$(printf '%sdl%03d' "$prefix" $((i % 10)))" --user 1000 --group 1000 box -- /bin/sh -c 'echo ok' 2>&1) || true
			t1=$(date +%s%N)
			if [ "$out" = ok ]; then echo $(((t1 - t0) / 1000)) >>"$tmp/lxc.burst"; else echo "$out" >>"$tmp/lxc.fail"; fi
		) &
		pids+=($!)
	done
	wait "${pids[@]}" # not the gateway
	local n
	n=$(wc -l <"$tmp/lxc.burst" 2>/dev/null || echo 0)
	sort -n "$tmp/lxc.burst" | awk -v s="$SESSIONS" -v n="$n" '{a[NR]=$1} END {
		printf "the same burst by lxc exec on the host (no gateway): %d errors; ms: p50 %.0f, p90 %.0f, p99 %.0f, max %.0f\n",
			s - n, a[int(NR*0.5)+1]/1000, a[int(NR*0.9)+1]/1000, a[(int(NR*0.99)+1 > NR ? NR : int(NR*0.99)+1)]/1000, a[NR]/1000}'
	[ ! -s "$tmp/lxc.fail" ] || sort "$tmp/lxc.fail" | uniq -c | head -3
}

logins_bench() {
	for _ in $(seq "$LOGINS"); do
		time_it login.gw cssh direct true
		time_it login.jump cssh -J gw ubuntu@box true
		time_it login.port cssh port true
	done
	printf '\nssh ... true, a fresh connection each, median of %d, ms: bench+box@gw %s, -J bench@gw ubuntu@box %s, published port %s\n' \
		"$LOGINS" "$(median login.gw)" "$(median login.jump)" "$(median login.port)"
	target "wall time bench+box@gw / -J gw" "$(ratio "$(median login.gw)" "$(median login.jump)")" "<=" 1.0
}

[ "$SIZE_MIB" = 0 ] || sftp_bench
[ "$LOGINS" = 0 ] || logins_bench
[ "$SESSIONS" = 0 ] && exit 0
echo
rc=0
cl "$tmp/directload" run -gw "$HOST:$port" -pid "$pid" -users 10 -sessions "$SESSIONS" || rc=$?
lxc_burst
[ "$rc" = 0 ] || { echo "direct.sh: the sessions failed; gateway log:" >&2; tail -5 "$tmp/gw.log" >&2; }
exit "$rc"
