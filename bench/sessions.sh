#!/usr/bin/env bash
# sessions.sh: what idle PTY shells cost the gateway. 1000 shells over 100
# users (one connection each, 100 loopback source addresses): the RSS above
# the idle gateway's; then 5000 held, with the caps raised, while fresh
# "ssh gw whoami" logins are timed (bench/sessions).
#
#   bench/sessions.sh [sessions flags...]    e.g. -sessions 1000 -hold 0
#   LXCGATE_BIN=/path/to/lxcgate bench/sessions.sh   measure that build instead
#   AFTER_LOGINS=1 bench/sessions.sh   first 5 s of parallel key logins (bench/loginload), then the shells:
#                                      the memory of a gateway that has served a login burst
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; "$tmp/lxcgate" --data "$tmp/gw" portmap flush >/dev/null 2>&1; rm -rf "$tmp"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ulimit -n "$(ulimit -Hn)" # 5000 shells: a descriptor each, on both sides

if [ -n "${LXCGATE_BIN:-}" ]; then cp "$LXCGATE_BIN" "$tmp/lxcgate"; else go build -o "$tmp/lxcgate" ./cmd/lxcgate; fi
go build -o "$tmp/loginload" ./bench/loginload
go build -o "$tmp/sessions" ./bench/sessions
"$tmp/loginload" setup -data "$tmp/gw" -users 100

port=$(free_port)
export LXCGATE_SSH_MAX_SESSIONS=6000 LXCGATE_SSH_MAX_SESSIONS_PER_USER=100 LXCGATE_SSH_MAX_CONNECTIONS=6000
# Objects of its own: the default prefixes are the demo gateway's (scripts/up.sh).
export LXCGATE_PORTS_CHAIN_PREFIX=BENCHSESS$$ LXCGATE_CONTAINERS_PROJECT_PREFIX=benchsess$$-
LXCGATE_LOG_LEVEL=${LXCGATE_LOG_LEVEL:-warn} "$tmp/lxcgate" --data "$tmp/gw" serve --listen "127.0.0.1:$port" 2>"$tmp/gw.log" &
gw_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
if [ -n "${AFTER_LOGINS:-}" ]; then
	# Both "servers" are the gateway: only the load matters here.
	"$tmp/loginload" run -bare "127.0.0.1:$port" -gw "127.0.0.1:$port" -duration 3s -rounds 1 | grep -v "^ *$" | tail -4 || true
	echo "after the login burst: RSS $(awk '/VmRSS/ {print $2}' "/proc/$gw_pid/status") KiB"
fi
"$tmp/sessions" -gw "127.0.0.1:$port" -pid "$gw_pid" "$@" || {
	echo "sessions.sh: failed; gateway log:" >&2
	tail -20 "$tmp/gw.log" >&2
	exit 1
}
