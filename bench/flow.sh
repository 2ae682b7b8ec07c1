#!/usr/bin/env bash
# flow.sh: the whole flow under load. USERS users at once each launch a
# Debian container, make a key for it ('key'), ssh in through its published
# port from the client namespace, snapshot, stop and delete it; then the
# same steps by lxc (and a DNAT made by hand) one container at a time. It
# prints each step's p99 for both, checks that every step succeeded, and
# that no DNAT rule and no container row is left behind.
#
#   bench/flow.sh [USERS] [ROUNDS]   (default 50 users, 5 lxc rounds; needs scripts/lab.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-50}
ROUNDS=${2:-5}
IMAGE=lxcgate-debian
HOST=10.177.0.1
prefix="bench$$-"
. bench/lib.sh
export LXCGATE_CONTAINERS_PROJECT_PREFIX=$prefix LXCGATE_CONTAINERS_CPU=1 LXCGATE_CONTAINERS_MEMORY=512MiB \
	LXCGATE_CONTAINERS_DISK=2GiB LXCGATE_PORTS_RANGE=27800-27999 LXCGATE_PORTS_CHAIN_PREFIX=BENCHFLOW \
	LXCGATE_PORTS_PUBLIC_ADDRESS=$HOST LXCGATE_SSH_MAX_SESSIONS=400
gw_start
trap 'iptables -t nat -F BENCHHAND 2>/dev/null; iptables -t nat -D PREROUTING -j BENCHHAND 2>/dev/null; iptables -t nat -X BENCHHAND 2>/dev/null; "$tmp/lxcgate" --data "$tmp/gw" portmap flush 2>/dev/null; cleanup' EXIT
for u in $(seq "$USERS"); do
	ssh-keygen -q -t ed25519 -N '' -f "$tmp/u$u"
	echo 'bench-password' | "$tmp/lxcgate" --data "$tmp/gw" user add "u$u" --password-stdin >/dev/null 2>&1
	"$tmp/lxcgate" --data "$tmp/gw" user key add "u$u" <"$tmp/u$u.pub" >/dev/null 2>&1
done
# uopts: the gateway's ssh options without the bench user's key (a key
# offered and refused would count as a failed login).
uopts=()
for ((i = 0; i < ${#sshopts[@]}; i++)); do
	if [ "${sshopts[i]}" = -i ]; then i=$((i + 1)); else uopts+=("${sshopts[i]}"); fi
done
as() { # USER CMD...: one command as USER, from a source address of its own
	local u=$1
	shift
	ssh "${uopts[@]}" -i "$tmp/$u" -o ControlPath=none -o BindAddress="127.0.0.$((${u#u} + 10))" "$u@127.0.0.1" "$@"
}
in_ct() { # KEYFILE PORT: ssh into the container through a published port
	ip netns exec lxcgate-client ssh -F /dev/null -p "$2" -i "$1" -o IdentitiesOnly=yes -o BatchMode=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5 "ubuntu@$HOST" true
}
in_ct_retry() { for _ in $(seq 300); do in_ct "$@" && return 0; sleep 0.2; done; return 1; } # sshd may take a while to boot under load

keyfile() { as "$1" key box >"$tmp/$1.box" && chmod 600 "$tmp/$1.box"; }

flow() { # USER: the gateway's flow for one user
	local u=$1 hp
	time_it "gw.launch" as "$u" launch box --image "$IMAGE"
	time_it "gw.key" keyfile "$u"
	hp=$(as "$u" ports box --json | python3 -c 'import json,sys; print([p["host_port"] for p in json.load(sys.stdin) if p["container_port"]==22][0])')
	time_it "gw.ssh" in_ct_retry "$tmp/$u.box" "$hp"
	time_it "gw.snapshot" as "$u" snapshot box s1
	time_it "gw.stop" as "$u" stop box
	time_it "gw.delete" as "$u" delete box --yes
}
t0=$(date +%s%N)
pids=()
for u in $(seq "$USERS"); do
	flow "u$u" >"$tmp/flow.u$u.log" 2>&1 &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
t1=$(date +%s%N)
[ "$fails" -eq 0 ] || { echo "$fails users' flows failed:" >&2; cat "$tmp"/flow.u*.log >&2; exit 1; }

# The same steps by lxc, one container at a time.
lxc_project "${prefix}lxc"
iptables -t nat -N BENCHHAND
iptables -t nat -I PREROUTING -j BENCHHAND
lxcdo() { local sub=$1; shift; lxc "$sub" --project "${prefix}lxc" "$@"; }
lxc_launch() {
	lxcdo launch "$IMAGE" "$1" -c limits.cpu=1 -c limits.memory=512MiB -d root,size=2GiB >/dev/null
	while [ -z "$(lxcdo list "$1" -c 4 --format csv)" ]; do sleep 0.05; done
}
lxc_key() {
	ssh-keygen -q -t ed25519 -N '' -f "$tmp/l$1.key" <<<y >/dev/null
	lxcdo exec "$1" -- install -d -m 700 -o 1000 -g 1000 /home/ubuntu/.ssh
	lxcdo file push "$tmp/l$1.key.pub" "$1/home/ubuntu/.ssh/authorized_keys" --uid 1000 --gid 1000 --mode 0600
}
lxc_ssh() {
	local ip
	ip=$(lxcdo list "$1" -c 4 --format csv | cut -d' ' -f1)
	iptables -t nat -A BENCHHAND -p tcp --dport "$2" -j DNAT --to-destination "$ip:22"
	in_ct_retry "$tmp/l$1.key" "$2"
}
for i in $(seq "$ROUNDS"); do
	time_it lxc.launch lxc_launch "l$i"
	time_it lxc.key lxc_key "l$i"
	time_it lxc.ssh lxc_ssh "l$i" $((28000 + i))
	time_it lxc.snapshot lxcdo snapshot "l$i" s1
	time_it lxc.stop lxcdo stop "l$i"
	time_it lxc.delete lxcdo delete "l$i"
done

# What the gateway holds after every user deleted: DNAT decisions (in its
# nftables map or iptables chains, as portmap status reads them), desired
# mappings (rows), containers in its projects.
status=$("$tmp/lxcgate" --data "$tmp/gw" portmap status --json || true)
left_rules=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1]).get("actual") or []))' "$status")
left_rows=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1]).get("desired") or []))' "$status")
left_cts=$(lxc list --all-projects --format csv -c n,e 2>/dev/null | grep -c ",${prefix}u" || true)
p99() { sort -n "$tmp/$1" | awk '{a[NR]=$1} END {i=int(NR*0.99+0.999); if (i<1) i=1; printf "%.0f", a[i]/1000}'; }
printf '%d users at once through lxcgate (all in %.1f s) against lxc one at a time (%d rounds): p99 ms\n' \
	"$USERS" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print (b-a)/1e9}')" "$ROUNDS"
printf '%-10s %10s %10s\n' step "lxc (1)" "lxcgate ($USERS)"
for s in launch key ssh snapshot stop delete; do printf '%-10s %10s %10s\n' "$s" "$(p99 "lxc.$s")" "$(p99 "gw.$s")"; done
echo "errors: 0; DNAT rules left: $left_rules; mappings desired after: $left_rows; containers left: $left_cts"
[ "$left_rules$left_rows$left_cts" = 000 ] || { echo "flow.sh: the gateway left rules, rows or containers behind" >&2; exit 1; }
