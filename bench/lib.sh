# lib.sh: what the gateway benchmarks share; sourced, not run. It starts a
# gateway on loopback with a user "bench", a multiplexed OpenSSH master for
# it, and cleans up every LXD project under $prefix on exit.
#   needs: $prefix set; call gw_start after exporting LXCGATE_* settings
#   (and gw_host, the address it listens on: 127.0.0.1 unless set).
[ "$(id -u)" = 0 ] || { echo "$0: run as root" >&2; exit 1; }
scripts/lab.sh status >/dev/null || { echo "$0: the lab is down; run scripts/lab.sh up" >&2; exit 1; }

tmp=$(mktemp -d)
cleanup() {
	ssh -o ControlPath="$tmp/cm" -O exit x 2>/dev/null || true
	kill $(jobs -p) ${gw_pid:-} 2>/dev/null || true
	wait 2>/dev/null || true
	[ -x "$tmp/lxcgate" ] && "$tmp/lxcgate" --data "$tmp/gw" portmap flush >/dev/null 2>&1 || true
	for p in $(lxc project list --format csv | cut -d, -f1 | sed 's/ (current)//' | grep "^$prefix" || true); do
		for n in $(lxc list --project "$p" --format csv -c n); do lxc delete --force --project "$p" "$n" >/dev/null; done
		lxc project delete "$p" >/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

gw_start() {
	: "${gw_host:=127.0.0.1}" # set here: the serve line below runs in the background, in a subshell
	# A table and chains of the benchmark's own: the default prefix is the
	# demo gateway's (scripts/up.sh), which a benchmark must not rewrite.
	export LXCGATE_PORTS_CHAIN_PREFIX=${LXCGATE_PORTS_CHAIN_PREFIX:-BENCH$$}
	go build -o "$tmp/lxcgate" ./cmd/lxcgate
	ssh-keygen -q -t ed25519 -N '' -f "$tmp/key"
	port=$(free_port)
	echo 'bench-password' | "$tmp/lxcgate" --data "$tmp/gw" user add bench --password-stdin 2>/dev/null
	"$tmp/lxcgate" --data "$tmp/gw" user key add bench <"$tmp/key.pub" 2>/dev/null
	LXCGATE_LOG_LEVEL=warn "$tmp/lxcgate" --data "$tmp/gw" serve --listen "$gw_host:$port" 2>"$tmp/gw.log" &
	gw_pid=$! # by its pid: jobs -p missed it when the script ran under time and timeout
	sleep 1
	sshopts=(-F /dev/null -p "$port" -i "$tmp/key" -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)
	ssh "${sshopts[@]}" -o ControlMaster=yes -o ControlPath="$tmp/cm" -o ControlPersist=600 -fN "bench@$gw_host"
}
# The same project settings the gateway uses, for lxc.
lxc_project() {
	lxc project create "$1" -c features.images=false -c features.profiles=false \
		-c features.storage.volumes=false >/dev/null
}
mux() { ssh "${sshopts[@]}" -o ControlPath="$tmp/cm" "bench@$gw_host" "$@"; }
cold() { ssh "${sshopts[@]}" -o ControlPath=none "bench@$gw_host" "$@"; }

# time_it FILE CMD...: run CMD, append its wall time in microseconds to FILE.
time_it() {
	local f=$1
	shift
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null 2>"$tmp/last.err" || { echo "failed: $*" >&2; cat "$tmp/last.err" >&2; exit 1; }
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000)) >>"$tmp/$f"
}
median() { sort -n "$tmp/$1" | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a/b}'; }
