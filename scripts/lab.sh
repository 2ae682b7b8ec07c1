#!/usr/bin/env bash
# lab.sh: brings up (and takes down) the real lab lxcgate is tested against:
# an LXD daemon with a btrfs pool, a bridge without NAT, two images, and a
# client host in a network namespace. Idempotent: every step checks first.
#
#   scripts/lab.sh up       install packages, start LXD, create what is missing
#   scripts/lab.sh down     remove what "up" made, and nothing else
#   scripts/lab.sh status   print each part; exit 1 unless the lab is complete
#
#   scripts/lab.sh cluster up               a 3-member LXD cluster nested in the lab's
#                                           LXD, and a gateway config for it
#   scripts/lab.sh cluster down [--purge]   remove what "cluster up" made (--purge:
#                                           also the member image's cache)
#   scripts/lab.sh cluster status [--json]  per member; exit 1 unless complete
#   (see scripts/cluster/cluster.sh)
set -euo pipefail

STATE=${LXCGATE_LAB_STATE:-/var/lib/lxcgate-lab}
CACHE=${LXCGATE_LAB_CACHE:-/var/cache/lxcgate-lab}
LOG=/var/log/lxd-lab.log
POOL=default
BRIDGE=lxdbr0
BRIDGE_ADDR=10.166.0.1/24
NETNS=lxcgate-client
VETH_HOST=lxcg-host
VETH_CLIENT=lxcg-client
HOST_ADDR=10.177.0.1
CLIENT_ADDR=10.177.0.2
DEBIAN_IMAGE=lxcgate-debian
BUSYBOX_IMAGE=lxcgate-busybox
BUSYBOX_VERSION="lab build 2" # in the image's description; a change rebuilds the cached rootfs
MIRROR=${LXCGATE_LAB_MIRROR:-http://deb.debian.org/debian}
PACKAGES=(lxd lxd-client dnsmasq-base iptables btrfs-progs debootstrap busybox-static openssh-client sshpass iproute2 expect ssh-audit systemd chromium)

say() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

# made records what this script created, so that "down" removes only that.
made() { mkdir -p "$STATE"; grep -qxF "$1" "$STATE/made" 2>/dev/null || echo "$1" >>"$STATE/made"; }
was_made() { grep -qxF "$1" "$STATE/made" 2>/dev/null; }

need_root() { [ "$(id -u)" = 0 ] || die "run as root (sudo $0 $*)"; }

install_packages() { # [PACKAGE...]: those given, or the lab's
	local missing=() want=("$@")
	[ ${#want[@]} -gt 0 ] || want=("${PACKAGES[@]}")
	for p in "${want[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

lxd_running() { lxd waitready --timeout 1 >/dev/null 2>&1; }

start_lxd() {
	if lxd_running; then return; fi
	say "starting lxd"
	# No systemd here: run the daemon in its own session so it outlives this script.
	setsid lxd --group root --logfile "$LOG" </dev/null >/dev/null 2>&1 &
	# Slower with many instances to take back (the nested cluster's members among them).
	lxd waitready --timeout 180 || die "lxd did not start; see $LOG"
	made daemon
}

setup_storage() {
	lxc storage show "$POOL" >/dev/null 2>&1 && return
	say "creating storage pool $POOL (btrfs)"
	lxc storage create "$POOL" btrfs size=5GiB >/dev/null
	made pool
}

setup_network() {
	if ! lxc network show "$BRIDGE" >/dev/null 2>&1; then
		say "creating bridge $BRIDGE without NAT"
		lxc network create "$BRIDGE" ipv4.address="$BRIDGE_ADDR" ipv4.nat=false ipv6.address=none dns.mode=none >/dev/null
		made bridge
	fi
	# The lab must never route containers to the outside.
	[ "$(lxc network get "$BRIDGE" ipv4.nat)" = "false" ] || die "$BRIDGE has NAT on; the lab needs ipv4.nat=false"
	# Without DNS records, two users may each run a container called "dev":
	# LXD refuses a second instance of one DNS name on a bridge with DNS.
	local mode
	mode=$(lxc network get "$BRIDGE" dns.mode)
	if [ "$mode" != "none" ]; then
		lxc network set "$BRIDGE" dns.mode=none
		made "dns-mode:${mode:-managed}" # down puts it back
	fi
}

setup_profile() {
	local devs
	devs=$(lxc profile device list default)
	if ! grep -qx root <<<"$devs"; then
		lxc profile device add default root disk path=/ pool="$POOL" >/dev/null
		made profile-root
	fi
	if ! grep -qx eth0 <<<"$devs"; then
		lxc profile device add default eth0 nic network="$BRIDGE" name=eth0 >/dev/null
		made profile-eth0
	fi
}

image_present() { lxc image info "$1" >/dev/null 2>&1; }

write_metadata() { # dir description
	cat >"$1/metadata.yaml" <<EOF
architecture: x86_64
creation_date: $(date +%s)
properties:
  description: $2
  os: $3
  release: $4
EOF
	tar -C "$1" -czf "$1/../meta.tar.gz" metadata.yaml
}

build_debian() {
	local dir=$CACHE/debian
	if [ ! -f "$dir/rootfs.tar.gz" ]; then
		say "building $DEBIAN_IMAGE with debootstrap (about a minute)"
		rm -rf "$dir" && mkdir -p "$dir/meta"
		local root=$dir/rootfs
		debootstrap --variant=minbase \
			--include=openssh-server,iproute2,ifupdown,isc-dhcp-client,sudo,systemd-sysv,passwd \
			bookworm "$root" "$MIRROR" >"$dir/debootstrap.log" 2>&1 || die "debootstrap failed; see $dir/debootstrap.log"
		printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n' >"$root/etc/network/interfaces"
		chroot "$root" useradd -m -s /bin/bash -G sudo ubuntu
		# Debian's ssh.service runs "sshd -t" first, so host keys must exist in the image.
		chroot "$root" ssh-keygen -A >/dev/null
		echo "$DEBIAN_IMAGE" >"$root/etc/hostname"
		rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
		tar -C "$root" --numeric-owner -czf "$dir/rootfs.tar.gz.tmp" . && mv "$dir/rootfs.tar.gz.tmp" "$dir/rootfs.tar.gz"
		rm -rf "$root"
	fi
	write_metadata "$dir/meta" "Debian 12 with sshd and user ubuntu (lxcgate lab)" debian bookworm
}

build_busybox() {
	local dir=$CACHE/busybox
	if [ ! -f "$dir/rootfs.tar.gz" ] || [ "$(cat "$dir/version" 2>/dev/null)" != "$BUSYBOX_VERSION" ]; then
		say "building $BUSYBOX_IMAGE"
		rm -rf "$dir" && mkdir -p "$dir/meta"
		local root=$dir/rootfs
		mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,root,run,var/run,usr/bin,usr/sbin,home}
		cp /bin/busybox "$root/bin/busybox"
		for app in $(/bin/busybox --list); do
			[ -e "$root/bin/$app" ] || ln -s busybox "$root/bin/$app"
		done
		# A tiny init: take an address by DHCP unless LXD configured one (a
		# routed NIC), then wait; LXD's clean stop sends SIGPWR.
		cat >"$root/sbin/init" <<'EOF'
#!/bin/sh
trap 'exit 0' PWR TERM INT
export PATH=/bin
hostname -F /etc/hostname
ip link set lo up
ip -4 addr show dev eth0 | grep -q inet || udhcpc -b -q -i eth0 -s /etc/udhcpc.script >/dev/null 2>&1 &
while :; do sleep 3600 & wait $!; done
EOF
		cat >"$root/etc/udhcpc.script" <<'EOF'
#!/bin/sh
case "$1" in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
	;;
deconfig) ip link set "$interface" up; ip addr flush dev "$interface" ;;
esac
exit 0
EOF
		chmod 0755 "$root/sbin/init" "$root/etc/udhcpc.script"
		echo "$BUSYBOX_IMAGE" >"$root/etc/hostname"
		printf 'root:x:0:0:root:/root:/bin/sh\nubuntu:x:1000:1000::/home/ubuntu:/bin/sh\n' >"$root/etc/passwd"
		printf 'root:x:0:\nubuntu:x:1000:\n' >"$root/etc/group"
		mkdir -p "$root/home/ubuntu" && chown 1000:1000 "$root/home/ubuntu"
		tar -C "$root" --numeric-owner -czf "$dir/rootfs.tar.gz.tmp" . && mv "$dir/rootfs.tar.gz.tmp" "$dir/rootfs.tar.gz"
		rm -rf "$root"
		echo "$BUSYBOX_VERSION" >"$dir/version"
	fi
	write_metadata "$dir/meta" "BusyBox only, boots in a blink (lxcgate $BUSYBOX_VERSION)" busybox "1.35"
}

setup_images() {
	if ! image_present "$DEBIAN_IMAGE"; then
		build_debian
		lxc image import "$CACHE/debian/meta.tar.gz" "$CACHE/debian/rootfs.tar.gz" --alias "$DEBIAN_IMAGE" >/dev/null
		made "image:$DEBIAN_IMAGE"
	fi
	if ! image_present "$BUSYBOX_IMAGE"; then
		build_busybox
		lxc image import "$CACHE/busybox/meta.tar.gz" "$CACHE/busybox/rootfs.tar.gz" --alias "$BUSYBOX_IMAGE" >/dev/null
		made "image:$BUSYBOX_IMAGE"
	fi
}

setup_netns() {
	if ! ip netns list | grep -qw "$NETNS"; then
		say "creating client namespace $NETNS ($CLIENT_ADDR)"
		ip netns add "$NETNS"
		made netns
	fi
	if ! ip link show "$VETH_HOST" >/dev/null 2>&1; then
		ip link add "$VETH_HOST" type veth peer name "$VETH_CLIENT"
		ip link set "$VETH_CLIENT" netns "$NETNS"
		ip addr add "$HOST_ADDR/24" dev "$VETH_HOST"
		ip link set "$VETH_HOST" up
		ip -n "$NETNS" addr add "$CLIENT_ADDR/24" dev "$VETH_CLIENT"
		ip -n "$NETNS" link set "$VETH_CLIENT" up
		ip -n "$NETNS" link set lo up
		ip -n "$NETNS" route add default via "$HOST_ADDR"
		made veth
	fi
	if [ "$(sysctl -n net.ipv4.ip_forward)" != 1 ]; then
		sysctl -qw net.ipv4.ip_forward=1
		made ip_forward
	fi
}

up() {
	need_root up
	install_packages
	start_lxd
	setup_storage
	setup_network
	setup_profile
	setup_images
	setup_netns
	say "ready: bridge $BRIDGE ($BRIDGE_ADDR, no NAT), images $DEBIAN_IMAGE and $BUSYBOX_IMAGE, client $NETNS at $CLIENT_ADDR -> host $HOST_ADDR"
}

down() {
	need_root down
	# The cluster stands on this lab: it goes first.
	if [ -f "$CSTATE/made" ]; then cluster_down; fi
	if was_made veth; then ip link del "$VETH_HOST" 2>/dev/null || true; fi
	if was_made netns; then ip netns del "$NETNS" 2>/dev/null || true; fi
	if was_made ip_forward; then sysctl -qw net.ipv4.ip_forward=0; fi
	if lxd_running; then
		for img in "$DEBIAN_IMAGE" "$BUSYBOX_IMAGE"; do
			if was_made "image:$img"; then lxc image delete "$img" 2>/dev/null || true; fi
		done
		local old
		old=$(grep '^dns-mode:' "$STATE/made" 2>/dev/null | head -n 1 | cut -d: -f2 || true)
		if [ -n "$old" ] && ! was_made bridge; then lxc network set "$BRIDGE" dns.mode="$old" >/dev/null 2>&1 || true; fi
		if was_made profile-eth0; then lxc profile device remove default eth0 >/dev/null 2>&1 || true; fi
		if was_made profile-root; then lxc profile device remove default root >/dev/null 2>&1 || true; fi
		if was_made bridge; then lxc network delete "$BRIDGE" >/dev/null 2>&1 || say "kept $BRIDGE: still in use"; fi
		if was_made pool; then lxc storage delete "$POOL" >/dev/null 2>&1 || say "kept pool $POOL: still in use"; fi
		if was_made daemon; then lxd shutdown --timeout 30 >/dev/null 2>&1 || true; fi
	fi
	rm -f "$STATE/made"
	say "down (packages and the image cache in $CACHE are kept)"
}

status() {
	local ok=0
	check() { if eval "$2" >/dev/null 2>&1; then printf '%-10s ok\n' "$1"; else printf '%-10s missing\n' "$1"; ok=1; fi; }
	check lxd lxd_running
	check pool "lxc storage show $POOL"
	check bridge "lxc network show $BRIDGE"
	check images "image_present $DEBIAN_IMAGE && image_present $BUSYBOX_IMAGE"
	check client "ip netns exec $NETNS ip addr show $VETH_CLIENT"
	return $ok
}

# shellcheck source=cluster/cluster.sh
. "$(dirname "${BASH_SOURCE[0]}")/cluster/cluster.sh"

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
cluster) shift; cluster_main "$@" ;;
*) echo "usage: $0 up|down|status|cluster up|down|status" >&2; exit 2 ;;
esac
