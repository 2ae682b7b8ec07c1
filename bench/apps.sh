#!/usr/bin/env bash
# apps.sh: a web app in a container through the gateway's apps listener
# (port add --web) against the same app straight at the container's
# address, in one run (bench/appload):
#  - GET latency, sequential with keep-alive (p50; target <= 1.2x);
#  - WebSocket echo round trips (p50; target <= 1.2x);
#  - the gateway's RSS growth with WS WebSockets open (target <= +64 MiB).
# The app is the e2e tests' (e2e/testdata/webapp) in a BusyBox container;
# with JUPYTER=1, Debian's Jupyter (tornado) in lxcgate-jupyter is
# measured the same way (its /api endpoint; no WebSocket echo).
#
#   bench/apps.sh [N] [WS]   (default 2000 round trips, 1000 WebSockets;
#   needs scripts/lab.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
WS=${2:-1000}
prefix="bapps$$-"
gw_host=127.0.0.1
. bench/lib.sh
web=$(free_port)
apps=$(free_port)
export LXCGATE_CONTAINERS_PROJECT_PREFIX=$prefix LXCGATE_CONTAINERS_DEFAULT_IMAGE=lxcgate-busybox \
	LXCGATE_CONTAINERS_MEMORY=1GiB LXCGATE_PORTS_RANGE=27500-27599 LXCGATE_PORTS_CHAIN_PREFIX=BENCHAPPS \
	LXCGATE_WEB_LISTEN=127.0.0.1:$web LXCGATE_WEB_PUBLIC_URL=http://127.0.0.1:$web \
	LXCGATE_WEB_APPS_LISTEN=127.0.0.1:$apps LXCGATE_WEB_APPS_PER_USER=$((WS + 100)) LXCGATE_SSH_MAX_SESSIONS_PER_USER=50
trap '"$tmp/lxcgate" --data "$tmp/gw" portmap flush 2>/dev/null; cleanup' EXIT
CGO_ENABLED=0 go build -o "$tmp/webapp" ./e2e/testdata/webapp
go build -o "$tmp/appload" ./bench/appload
gw_start
pid=$(pgrep -f "^$tmp/lxcgate --data $tmp/gw serve")
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true # two sockets per WebSocket, and the gateway two more

mux launch box >/dev/null 2>&1
project=${prefix}bench
lxc file push "$tmp/webapp" box/webapp --project "$project" --mode 0755
lxc exec box --project "$project" -- sh -c 'setsid /webapp -addr :8080 </dev/null >/dev/null 2>&1 &'
mux port add box 8080 --web --name web >/dev/null 2>&1
ip=$(lxc list box --project "$project" -c 4 --format csv | cut -d' ' -f1)
sleep 1
echo "== a Go web app in BusyBox: $N requests and round trips each way, $WS WebSockets"
"$tmp/appload" -signin "$(mux web | tail -1)" -app "http://127.0.0.1:$apps/bench/box/web/" -direct "http://$ip:8080/" \
	-pid "$pid" -n "$N" -ws "$WS"

if [ "${JUPYTER:-0}" = 1 ]; then
	mux launch nb --image lxcgate-jupyter >/dev/null 2>&1
	lxc exec nb --project "$project" --user 1000 --group 1000 --env HOME=/home/ubuntu --cwd /home/ubuntu -- sh -c \
		"setsid jupyter notebook --no-browser --ip=0.0.0.0 --port=8888 --NotebookApp.base_url=/bench/nb/jupyter/ --NotebookApp.token= --NotebookApp.allow_remote_access=True >/tmp/j.log 2>&1 </dev/null &"
	mux port add nb 8888 --web --name jupyter >/dev/null 2>&1
	nip=$(lxc list nb --project "$project" -c 4 --format csv | cut -d' ' -f1)
	for _ in $(seq 60); do curl -fs "http://$nip:8888/bench/nb/jupyter/api" >/dev/null && break; sleep 1; done
	echo "== Jupyter (tornado) /api: $N requests each way"
	"$tmp/appload" -signin "$(mux web | tail -1)" -app "http://127.0.0.1:$apps/bench/nb/jupyter/" \
		-direct "http://$nip:8888/bench/nb/jupyter/" -path api -pid "$pid" -n "$N" -ws 0
fi
