#!/usr/bin/env bash
# login.sh: login latency of "ssh gw whoami" against OpenSSH's own sshd
# running "whoami" on the same machine, in one run: the same client, key
# authentication, a new connection each time, loopback only.
#
#   bench/login.sh [RUNS]        (default 30 runs each, interleaved)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-30}
[ "$(id -u)" = 0 ] || { echo "login.sh: run as root (sshd needs it)" >&2; exit 1; }

# sshd from Debian, installed without starting the system service.
if ! command -v /usr/sbin/sshd >/dev/null; then
	echo "installing openssh-server (service not started)" >&2
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
	rm -f /usr/sbin/policy-rc.d
fi

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ssh-keygen -q -t ed25519 -N '' -f "$tmp/client"
go build -o "$tmp/lxcgate" ./cmd/lxcgate

# lxcgate
gw_port=$(free_port)
echo 'bench-password' | "$tmp/lxcgate" --data "$tmp/gw" user add bench --password-stdin 2>/dev/null
"$tmp/lxcgate" --data "$tmp/gw" user key add bench <"$tmp/client.pub" 2>/dev/null
LXCGATE_LOG_LEVEL=warn "$tmp/lxcgate" --data "$tmp/gw" serve --listen "127.0.0.1:$gw_port" 2>"$tmp/gw.log" &

# OpenSSH sshd with a throw-away configuration
sshd_port=$(free_port)
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$tmp/sshd_host"
cp "$tmp/client.pub" "$tmp/authorized_keys"
cat >"$tmp/sshd_config" <<EOF
Port $sshd_port
ListenAddress 127.0.0.1
HostKey $tmp/sshd_host
AuthorizedKeysFile $tmp/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
PidFile $tmp/sshd.pid
EOF
/usr/sbin/sshd -D -e -f "$tmp/sshd_config" 2>"$tmp/sshd.log" &
sleep 0.5

client() { # port user
	ssh -F /dev/null -p "$1" -i "$tmp/client" -o IdentitiesOnly=yes -o IdentityAgent=none \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
		-o BatchMode=yes "$2@127.0.0.1" whoami
}
# One warm-up each; both must answer.
client "$gw_port" bench | grep -q bench || { echo "gateway did not answer; log:" >&2; cat "$tmp/gw.log" >&2; exit 1; }
client "$sshd_port" root | grep -qx root || { echo "sshd did not answer; log:" >&2; cat "$tmp/sshd.log" >&2; exit 1; }

now_ms() { date +%s%N; }
: >"$tmp/gw.times"
: >"$tmp/sshd.times"
for _ in $(seq "$RUNS"); do # interleaved, so that drift hits both alike
	t0=$(now_ms); client "$gw_port" bench >/dev/null; t1=$(now_ms)
	echo $(((t1 - t0) / 1000)) >>"$tmp/gw.times"
	t0=$(now_ms); client "$sshd_port" root >/dev/null; t1=$(now_ms)
	echo $(((t1 - t0) / 1000)) >>"$tmp/sshd.times"
done

stats() { sort -n "$1" | awk '{a[NR]=$1; s+=$1} END {printf "%.1f %.1f %.1f", a[int((NR+1)/2)]/1000, s/NR/1000, a[int(NR*0.9)]/1000}'; }
read -r gmed gmean gp90 <<<"$(stats "$tmp/gw.times")"
read -r smed smean sp90 <<<"$(stats "$tmp/sshd.times")"
gw_rss=$(ps -o rss= -p "$(pgrep -f "$tmp/lxcgate --data" | head -1)" 2>/dev/null || echo 0)
printf 'login latency, ssh ... whoami, key auth, new connection each, %d runs each (ms)\n' "$RUNS"
printf '%-10s %8s %8s %8s\n' "" median mean p90
printf '%-10s %8s %8s %8s\n' lxcgate "$gmed" "$gmean" "$gp90"
printf '%-10s %8s %8s %8s\n' sshd "$smed" "$smean" "$sp90"
awk -v g="$gmed" -v s="$smed" 'BEGIN {printf "ratio lxcgate/sshd (median): %.2f\n", g/s}'
printf 'lxcgate resident memory after the runs: %d KiB\n' "$gw_rss"
