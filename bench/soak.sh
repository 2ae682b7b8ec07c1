#!/usr/bin/env bash
# soak.sh: the gateway under a mixed load for a while, watched for growth.
# Four workers loop until the time is up: key logins and exec commands;
# PTY shells; a container's life (launch, port add/del, snapshot, volume
# attach/detach, stop, start, delete); web API calls with a token. Every 5 s
# it samples the gateway's RSS, goroutines, open FDs, the database and WAL
# size, its DNAT rules and its LXD instances. It fails when a worker failed,
# when RSS, goroutines or FDs grow over the second half of the run beyond
# noise (the least-squares slope, extrapolated over that half, above a
# bound), or when anything is left at the end (instances, rules, volumes).
#
#   bench/soak.sh [DURATION]     default 1h; .ci/run runs a short one (e.g. 3m)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-1h}
secs=$(python3 -c 'import sys,re; m=re.fullmatch(r"(\d+)([smh]?)", sys.argv[1]); print(int(m[1])*{"":1,"s":1,"m":60,"h":3600}[m[2]])' "$DURATION")
prefix="soak$$-"
. bench/lib.sh
pp=$(free_port)
web=$(free_port)
export LXCGATE_CONTAINERS_PROJECT_PREFIX=$prefix LXCGATE_PORTS_CHAIN_PREFIX=SOAK$$ LXCGATE_PORTS_RANGE=28200-28299 \
	LXCGATE_PORTS_PUBLIC_ADDRESS=127.0.0.1 LXCGATE_PPROF=127.0.0.1:$pp LXCGATE_WEB_LISTEN=127.0.0.1:$web \
	LXCGATE_WEB_PUBLIC_URL=http://127.0.0.1:$web LXCGATE_VOLUMES_DEFAULT_SIZE=64MiB
gw_start
trap '"$tmp/lxcgate" --data "$tmp/gw" portmap flush 2>/dev/null; cleanup' EXIT
token=$(mux token create --name soak | tail -1)
end=$(($(date +%s) + secs))
running() { [ "$(date +%s)" -lt "$end" ]; }
fail() { echo "soak: $*" >&2; touch "$tmp/failed"; }

logins() { while running; do cold whoami >/dev/null || fail "login"; mux list --json >/dev/null || fail "list"; done; }
shells() {
	while running; do
		printf 'whoami\nlist\nexit\n' | ssh "${sshopts[@]}" -tt -o ControlPath=none "bench@$gw_host" >/dev/null 2>&1 || fail "pty shell"
	done
}
life() {
	local n=0
	mux volume create soakvol >/dev/null || fail "volume create"
	while running; do
		n=$((n + 1))
		mux launch "c$n" --image lxcgate-busybox >/dev/null || { fail "launch c$n"; continue; }
		mux port add "c$n" 8000 >/dev/null || fail "port add"
		mux snapshot "c$n" "s$n" >/dev/null || fail "snapshot"
		mux volume attach soakvol "c$n" >/dev/null || fail "volume attach"
		mux volume detach soakvol "c$n" >/dev/null || fail "volume detach"
		mux port del "c$n" 8000 >/dev/null || fail "port del"
		mux stop "c$n" >/dev/null || fail "stop"
		mux start "c$n" >/dev/null || fail "start"
		mux delete "c$n" --yes >/dev/null || fail "delete c$n"
	done
	mux volume delete soakvol --yes >/dev/null || fail "volume delete"
}
api() {
	while running; do
		curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$web/api/v1/containers" >/dev/null || fail "GET /api/v1/containers"
		curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$web/api/v1/usage" >/dev/null || fail "GET /api/v1/usage"
	done
}

sample() { # t rss_kib goroutines fds db_kib wal_kib rules instances
	local t g rules ins
	t=$(($(date +%s) - end + secs))
	g=$(curl -fsS "http://127.0.0.1:$pp/debug/pprof/goroutine?debug=1" | awk 'NR==1 {print $4}')
	rules=$("$tmp/lxcgate" --data "$tmp/gw" portmap status --json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("actual") or []))' || echo 0)
	ins=$(lxc list --all-projects --format csv -c n,e 2>/dev/null | grep -c ",$prefix" || true)
	echo "$t $(awk '/VmRSS/ {print $2}' "/proc/$gw_pid/status") $g $(ls "/proc/$gw_pid/fd" | wc -l) \
		$(($(stat -c %s "$tmp/gw/lxcgate.db") / 1024)) $(($(stat -c %s "$tmp/gw/lxcgate.db-wal" 2>/dev/null || echo 0) / 1024)) $rules $ins"
}

echo "soak for ${secs}s: logins+exec, PTY shells, container life, web API; sampling every 5 s"
sample >"$tmp/samples"
logins &
shells &
life &
api &
while running; do
	sleep 5
	sample >>"$tmp/samples"
done
wait
sleep 2 # the last deletes' events settle
sample >>"$tmp/samples"

# growth COLUMN LABEL BOUND: the slope over the second half, times its
# length, must stay under BOUND (in the column's unit).
growth() {
	awk -v c="$1" -v l="$2" -v b="$3" '
		{ t[NR] = $1; v[NR] = $c } END {
			h = int(NR / 2) + 1; n = 0
			for (i = h; i <= NR; i++) { n++; st += t[i]; sv += v[i]; stt += t[i]*t[i]; stv += t[i]*v[i] }
			d = n*stt - st*st; s = (d > 0) ? (n*stv - st*sv) / d : 0
			g = s * (t[NR] - t[h])
			printf "  %-12s start %8d  half %8d  end %8d  slope x second half %+9.1f  bound %6d  %s\n", l, v[1], v[h], v[NR], g, b, (g <= b ? "ok" : "GROWS")
			exit (g <= b ? 0 : 1)
		}' "$tmp/samples"
}
echo "samples: $(wc -l <"$tmp/samples"); figures (RSS KiB, FDs, DB KiB):"
ok=0
growth 2 "RSS KiB" 16384 || ok=1
growth 3 goroutines 50 || ok=1
growth 4 FDs 20 || ok=1
growth 5 "DB KiB" 4096 || ok=1
awk 'END {printf "  %-12s %d KiB at the end\n", "WAL", $6}' "$tmp/samples"
read -r rules ins < <(awk 'END {print $7, $8}' "$tmp/samples")
vols=$(lxc storage volume list default --format csv -c tn 2>/dev/null | grep -c "^custom,$prefix" || true)
echo "left at the end: $ins instances, $rules DNAT rules, $vols volumes"
[ -e "$tmp/failed" ] && { echo "soak: some operations failed (above)" >&2; ok=1; }
[ "$ins$rules$vols" = 000 ] || { echo "soak: things were left behind" >&2; ok=1; }
exit "$ok"
