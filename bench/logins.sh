#!/usr/bin/env bash
# logins.sh: parallel key logins + "whoami" per second, lxcgate against a
# bare x/crypto server that accepts any key and answers exec with the user
# name, on the same machine in one run (bench/loginload: 8 workers, 100
# users, 64 loopback source addresses, rounds alternating between the two).
#
#   bench/logins.sh [loginload run flags...]   e.g. -duration 10s -rounds 5
#   bench/logins.sh --smoke                    one short round each (~2 s); exit 1 if a login fails
#   LXCGATE_PPROF=127.0.0.1:6060 bench/logins.sh   profile the gateway meanwhile (go tool pprof)
#   LXCGATE_BIN=/path/to/lxcgate bench/logins.sh   measure that build of the gateway instead
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")
if [ "${1:-}" = --smoke ]; then
	args=(-duration 1s -rounds 1 -users 10 -sources 8)
fi
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; "$tmp/lxcgate" --data "$tmp/gw" portmap flush >/dev/null 2>&1; rm -rf "$tmp"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [ -n "${LXCGATE_BIN:-}" ]; then # another build of the gateway, e.g. an older commit's
	cp "$LXCGATE_BIN" "$tmp/lxcgate"
else
	go build -o "$tmp/lxcgate" ./cmd/lxcgate
fi
go build -o "$tmp/loginload" ./bench/loginload
users=100
for ((i = 0; i < ${#args[@]}; i++)); do [ "${args[i]}" = -users ] && users=${args[i + 1]}; done
"$tmp/loginload" setup -data "$tmp/gw" -users "$users"

gw_port=$(free_port)
# Objects of its own: the default prefixes are the demo gateway's (scripts/up.sh).
export LXCGATE_PORTS_CHAIN_PREFIX=BENCHLOGIN$$ LXCGATE_CONTAINERS_PROJECT_PREFIX=benchlogin$$-
LXCGATE_LOG_LEVEL=${LXCGATE_LOG_LEVEL:-warn} "$tmp/lxcgate" --data "$tmp/gw" serve --listen "127.0.0.1:$gw_port" 2>"$tmp/gw.log" &
gw_pid=$!
"$tmp/loginload" bare -listen 127.0.0.1:0 >"$tmp/bare.addr" &
bare_pid=$!
for _ in $(seq 100); do
	[ -s "$tmp/bare.addr" ] && (exec 3<>"/dev/tcp/127.0.0.1/$gw_port") 2>/dev/null && break
	sleep 0.1
done
"$tmp/loginload" run -bare "$(cat "$tmp/bare.addr")" -gw "127.0.0.1:$gw_port" -bare-pid "$bare_pid" -gw-pid "$gw_pid" "${args[@]}" || {
	echo "logins.sh: failed; gateway log:" >&2
	tail -20 "$tmp/gw.log" >&2
	exit 1
}
echo "lxcgate resident memory after the runs: $(awk '/VmRSS/ {print $2}' "/proc/$gw_pid/status") KiB"
