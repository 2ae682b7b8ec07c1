#!/usr/bin/env bash
# lab.sh: brings up (and takes down) the real lab lxcgate is tested against:
# lxcfs, an LXD daemon with a btrfs pool, a bridge without NAT (and a second
# one with IPv6, as LXD makes its default bridge), three images, and a client
# host in a network namespace. Idempotent: every step checks first.
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
# LXD's own default bridge has IPv6 on: each instance then has two leases,
# an IPv4 and an IPv6 one. Tests run there too (containers.network).
BRIDGE6=lxdbr6
BRIDGE6_ADDR=10.167.0.1/24
BRIDGE6_ADDR6=fd42:6c78:6761:7465::1/64
LXCFS_DIR=/var/lib/lxcfs
NETNS=lxcgate-client
VETH_HOST=lxcg-host
VETH_CLIENT=lxcg-client
HOST_ADDR=10.177.0.1
CLIENT_ADDR=10.177.0.2
DEBIAN_IMAGE=lxcgate-debian
BUSYBOX_IMAGE=lxcgate-busybox
JUPYTER_IMAGE=lxcgate-jupyter
# In each image's description: a change imports the image again (and, for
# busybox, rebuilds the cached rootfs). Build 3: hostname and hosts templates.
DEBIAN_VERSION="lab build 4"
BUSYBOX_VERSION="lab build 4"
JUPYTER_VERSION="lab build 1"
# Debian's own Jupyter on top of the Debian image (their Depends only):
# "jupyter notebook" as ubuntu serves the UI and starts python3 kernels.
JUPYTER_PACKAGES=(jupyter-notebook python3-ipykernel)
MIRROR=${LXCGATE_LAB_MIRROR:-http://deb.debian.org/debian}
PACKAGES=(lxd lxd-client lxcfs dnsmasq-base iptables nftables btrfs-progs debootstrap busybox-static openssh-client sshpass iproute2 expect ssh-audit systemd chromium python3-aiosmtpd)

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
		grep -q 'install ok installed' <<<"$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

lxd_running() { lxd waitready --timeout 1 >/dev/null 2>&1; }

# lxcfs gives each container its own /proc/meminfo, cpuinfo, uptime...:
# without it "free" in a 2 GiB container shows the host's memory. LXC's
# mount hook (lxcfs's 00-lxcfs.conf) binds it in when a container starts,
# so it must be mounted before containers start; LXD itself needs no restart.
lxcfs_mounted() { awk -v d="$LXCFS_DIR" '$2 == d && $3 == "fuse.lxcfs" {f = 1} END {exit !f}' /proc/self/mounts; }
lxcfs_works() { lxcfs_mounted && head -c 1 "$LXCFS_DIR/proc/meminfo" >/dev/null 2>&1; }

start_lxcfs() {
	lxcfs_works && return
	if lxcfs_mounted; then # a dead lxcfs leaves its mount behind
		fusermount -u "$LXCFS_DIR" 2>/dev/null || umount -l "$LXCFS_DIR"
	fi
	say "starting lxcfs (containers see their own memory and CPUs)"
	mkdir -p "$LXCFS_DIR" "$STATE"
	setsid lxcfs --pidfile "$STATE/lxcfs.pid" "$LXCFS_DIR" </dev/null >>/var/log/lxcfs-lab.log 2>&1 &
	for _ in $(seq 50); do lxcfs_works && break; sleep 0.1; done
	lxcfs_works || die "lxcfs did not mount $LXCFS_DIR; see /var/log/lxcfs-lab.log"
	made lxcfs
}

stop_lxcfs() {
	if lxd_running && grep -q RUNNING <<<"$(lxc list --all-projects --format csv -c s 2>/dev/null)"; then
		say "kept lxcfs: running containers use it"
		return 1
	fi
	if [ -s "$STATE/lxcfs.pid" ]; then kill "$(cat "$STATE/lxcfs.pid")" 2>/dev/null || true; fi
	for _ in $(seq 20); do lxcfs_mounted || break; sleep 0.1; done
	if lxcfs_mounted; then fusermount -u "$LXCFS_DIR" 2>/dev/null || umount -l "$LXCFS_DIR" || true; fi
	rm -f "$STATE/lxcfs.pid"
}

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

# The second bridge: IPv6 on as LXD's default has it, but no NAT and no
# IPv6 routing, so containers there reach nothing outside this machine.
setup_network6() {
	if ! lxc network show "$BRIDGE6" >/dev/null 2>&1; then
		say "creating bridge $BRIDGE6 with IPv6, without NAT"
		lxc network create "$BRIDGE6" ipv4.address="$BRIDGE6_ADDR" ipv4.nat=false \
			ipv6.address="$BRIDGE6_ADDR6" ipv6.nat=false ipv6.routing=false dns.mode=none >/dev/null
		made bridge6
	fi
	[ "$(lxc network get "$BRIDGE6" ipv4.nat)" = "false" ] && [ "$(lxc network get "$BRIDGE6" ipv6.nat)" = "false" ] &&
		[ "$(lxc network get "$BRIDGE6" ipv6.routing)" = "false" ] ||
		die "$BRIDGE6 has NAT or IPv6 routing on; the lab needs ipv4.nat=false ipv6.nat=false ipv6.routing=false"
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

# write_metadata DIR DESCRIPTION OS RELEASE: the image's metadata, with
# LXD's templates that give /etc/hostname and /etc/hosts the instance's
# name when it is created or copied (without them, the image's name).
write_metadata() {
	cat >"$1/metadata.yaml" <<EOF
architecture: x86_64
creation_date: $(date +%s)
properties:
  description: $2
  os: $3
  release: $4
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
  /etc/hosts:
    when: [create, copy]
    template: hosts.tpl
EOF
	mkdir -p "$1/templates"
	echo '{{ container.name }}' >"$1/templates/hostname.tpl"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\t{{ container.name }}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n' \
		>"$1/templates/hosts.tpl"
	tar -C "$1" -czf "$1/../meta.tar.gz" metadata.yaml templates
}

# build_debian_rootfs DIR ALIAS VERSION [PACKAGE...]: DIR/rootfs.tar.gz, the
# lab's Debian 12 (sshd, user ubuntu, host keys) plus the PACKAGEs, rebuilt
# only when DIR/version is not VERSION. The PACKAGEs are installed with apt
# in the new system rather than by debootstrap's --include, whose resolver
# drops virtual dependencies (Jupyter's python3-argon2 needs the
# cffi backend only through one).
build_debian_rootfs() {
	local dir=$1 alias=$2 version=$3
	shift 3
	if [ -f "$dir/rootfs.tar.gz" ] && [ "$(cat "$dir/version" 2>/dev/null)" = "$version" ]; then return; fi
	say "building $alias with debootstrap (about a minute${1:+, then apt for $*})"
	rm -rf "$dir" && mkdir -p "$dir/meta"
	local root=$dir/rootfs
	debootstrap --variant=minbase \
		--include=openssh-server,openssh-sftp-server,rsync,busybox,iproute2,ifupdown,isc-dhcp-client,sudo,systemd-sysv,passwd \
		bookworm "$root" "$MIRROR" >"$dir/debootstrap.log" 2>&1 || die "debootstrap failed; see $dir/debootstrap.log"
	if [ $# -gt 0 ]; then
		{ chroot "$root" apt-get update -q &&
			DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q --no-install-recommends "$@"; } \
			>>"$dir/debootstrap.log" 2>&1 || die "installing $* failed; see $dir/debootstrap.log"
		chroot "$root" apt-get clean
	fi
	printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n' >"$root/etc/network/interfaces"
	chroot "$root" useradd -m -s /bin/bash -G sudo ubuntu
	# Debian's ssh.service runs "sshd -t" first, so host keys must exist in the image.
	chroot "$root" ssh-keygen -A >/dev/null
	rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
	tar -C "$root" --numeric-owner -czf "$dir/rootfs.tar.gz.tmp" . && mv "$dir/rootfs.tar.gz.tmp" "$dir/rootfs.tar.gz"
	rm -rf "$root"
	echo "$version" >"$dir/version"
}

build_debian() {
	build_debian_rootfs "$CACHE/debian" "$DEBIAN_IMAGE" "$DEBIAN_VERSION"
	write_metadata "$CACHE/debian/meta" "Debian 12 with sshd and user ubuntu (lxcgate $DEBIAN_VERSION)" debian bookworm
}

build_jupyter() {
	build_debian_rootfs "$CACHE/jupyter" "$JUPYTER_IMAGE" "$JUPYTER_VERSION" "${JUPYTER_PACKAGES[@]}"
	write_metadata "$CACHE/jupyter/meta" "Debian 12 with sshd, user ubuntu and Jupyter Notebook (lxcgate $JUPYTER_VERSION)" debian bookworm
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
		echo localhost >"$root/etc/hostname" # the template writes the instance's name
		printf 'root:x:0:0:root:/root:/bin/sh\nubuntu:x:1000:1000::/home/ubuntu:/bin/sh\n' >"$root/etc/passwd"
		printf 'root:x:0:\nubuntu:x:1000:\n' >"$root/etc/group"
		mkdir -p "$root/home/ubuntu" && chown 1000:1000 "$root/home/ubuntu"
		chmod 1777 "$root/tmp"
		tar -C "$root" --numeric-owner -czf "$dir/rootfs.tar.gz.tmp" . && mv "$dir/rootfs.tar.gz.tmp" "$dir/rootfs.tar.gz"
		rm -rf "$root"
		echo "$BUSYBOX_VERSION" >"$dir/version"
	fi
	write_metadata "$dir/meta" "BusyBox only, boots in a blink (lxcgate $BUSYBOX_VERSION)" busybox "1.35"
}

# image_current ALIAS VERSION: the image is there and of this build.
# The output is read whole first: with pipefail, "lxc ... | grep -q" fails
# now and then, when grep leaves early and lxc dies writing the rest.
image_current() {
	local info
	info=$(lxc image info "$1" 2>/dev/null) || return 1
	grep -q "^    description: .*(lxcgate $2)\$" <<<"$info"
}

# image_fingerprint ALIAS: the image's fingerprint, or nothing when there is
# no such image (not an error: pipefail would end the script on a new machine).
image_fingerprint() {
	local info
	info=$(lxc image info "$1" 2>/dev/null) || return 0
	sed -n 's/^Fingerprint: //p' <<<"$info"
}

# import_image ALIAS DIR: imports DIR's tarballs as ALIAS. An older build
# under ALIAS is replaced by moving the alias in one call, so that tests
# launching from it meanwhile never find it missing; the old image goes
# when this script made it.
import_image() {
	local old out fp
	old=$(image_fingerprint "$1")
	if [ -z "$old" ]; then
		lxc image import "$2/meta.tar.gz" "$2/rootfs.tar.gz" --alias "$1" >/dev/null
		made "image:$1"
		return
	fi
	say "replacing $1 with a newer build"
	out=$(lxc image import "$2/meta.tar.gz" "$2/rootfs.tar.gz" 2>&1) || die "importing $1 failed: $out"
	fp=$(sed -n 's/.*fingerprint: *//p' <<<"$out")
	[ -n "$fp" ] || die "importing $1: no fingerprint in: $out"
	lxc query -X PUT "/1.0/images/aliases/$1" -d "{\"target\": \"$fp\", \"description\": \"\"}" >/dev/null
	if was_made "image:$1"; then lxc image delete "$old" >/dev/null; else say "kept the older image $old (not made here)"; fi
	made "image:$1"
}

setup_images() {
	if ! image_current "$DEBIAN_IMAGE" "$DEBIAN_VERSION"; then
		build_debian
		import_image "$DEBIAN_IMAGE" "$CACHE/debian"
	fi
	if ! image_current "$BUSYBOX_IMAGE" "$BUSYBOX_VERSION"; then
		build_busybox
		import_image "$BUSYBOX_IMAGE" "$CACHE/busybox"
	fi
	if ! image_current "$JUPYTER_IMAGE" "$JUPYTER_VERSION"; then
		build_jupyter
		import_image "$JUPYTER_IMAGE" "$CACHE/jupyter"
	fi
	warm_image "$DEBIAN_IMAGE"
	warm_image "$BUSYBOX_IMAGE"
	warm_image "$JUPYTER_IMAGE"
}

# warm_image ALIAS: makes one instance from the image and deletes it, so
# that the pool holds the image's unpacked volume before tests launch from
# it in parallel. LXD 5.0.2 on btrfs fails concurrent first launches of a
# new image now and then ("readdirent ...: bad file descriptor").
warm_image() {
	local fp mark
	fp=$(image_fingerprint "$1")
	mark="$STATE/warm-$fp"
	[ -n "$fp" ] && [ ! -f "$mark" ] || return 0
	lxc init "$1" lab-warm-image --project default -s "$POOL" >/dev/null
	lxc delete lab-warm-image --project default >/dev/null
	mkdir -p "$STATE"
	touch "$mark"
}

setup_netns() {
	if ! grep -qw "$NETNS" <<<"$(ip netns list)"; then
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

# raise_inotify lets many system containers run: each systemd takes inotify
# instances, and the kernel's default (128 per user) is used up at about 20
# Debian containers, whose PID 1 then exits ("Failed to create control
# group inotify object: Too many open files") and LXD reports them stopped.
# LXD's production guide gives these values; the old ones are put back by
# "down".
raise_inotify() {
	local key want have
	for pair in fs.inotify.max_user_instances=1048576 fs.inotify.max_user_watches=1048576; do
		key=${pair%%=*} want=${pair#*=}
		have=$(sysctl -n "$key")
		if [ "$have" -lt "$want" ]; then
			sysctl -qw "$key=$want"
			grep -q "^sysctl:$key:" "$STATE/made" 2>/dev/null || made "sysctl:$key:$have"
		fi
	done
}

up() {
	need_root up
	install_packages
	raise_inotify
	start_lxcfs # before any container starts
	start_lxd
	setup_storage
	setup_network
	setup_network6
	setup_profile
	setup_images
	setup_netns
	say "ready: bridges $BRIDGE ($BRIDGE_ADDR, no NAT) and $BRIDGE6 ($BRIDGE6_ADDR and $BRIDGE6_ADDR6, no NAT), lxcfs, images $DEBIAN_IMAGE, $BUSYBOX_IMAGE and $JUPYTER_IMAGE, client $NETNS at $CLIENT_ADDR -> host $HOST_ADDR"
}

down() {
	need_root down
	# The cluster stands on this lab: it goes first.
	if [ -f "$CSTATE/made" ]; then cluster_down; fi
	if was_made veth; then ip link del "$VETH_HOST" 2>/dev/null || true; fi
	if was_made netns; then ip netns del "$NETNS" 2>/dev/null || true; fi
	if was_made ip_forward; then sysctl -qw net.ipv4.ip_forward=0; fi
	grep '^sysctl:' "$STATE/made" 2>/dev/null | while IFS=: read -r _ key old; do sysctl -qw "$key=$old" || true; done
	if lxd_running; then
		for img in "$DEBIAN_IMAGE" "$BUSYBOX_IMAGE" "$JUPYTER_IMAGE"; do
			if was_made "image:$img"; then lxc image delete "$img" 2>/dev/null || true; fi
		done
		local old
		old=$(grep '^dns-mode:' "$STATE/made" 2>/dev/null | head -n 1 | cut -d: -f2 || true)
		if [ -n "$old" ] && ! was_made bridge; then lxc network set "$BRIDGE" dns.mode="$old" >/dev/null 2>&1 || true; fi
		if was_made profile-eth0; then lxc profile device remove default eth0 >/dev/null 2>&1 || true; fi
		if was_made profile-root; then lxc profile device remove default root >/dev/null 2>&1 || true; fi
		if was_made bridge6; then lxc network delete "$BRIDGE6" >/dev/null 2>&1 || say "kept $BRIDGE6: still in use"; fi
		if was_made bridge; then lxc network delete "$BRIDGE" >/dev/null 2>&1 || say "kept $BRIDGE: still in use"; fi
		if was_made pool; then lxc storage delete "$POOL" >/dev/null 2>&1 || say "kept pool $POOL: still in use"; fi
		if was_made daemon; then lxd shutdown --timeout 30 >/dev/null 2>&1 || true; fi
	fi
	local keep=""
	if was_made lxcfs && ! stop_lxcfs; then keep=lxcfs; fi
	rm -f "$STATE/made" "$STATE"/warm-*
	if [ -n "$keep" ]; then made "$keep"; fi
	say "down (packages and the image cache in $CACHE are kept)"
}

status() {
	local ok=0
	check() { if eval "$2" >/dev/null 2>&1; then printf '%-10s ok\n' "$1"; else printf '%-10s missing\n' "$1"; ok=1; fi; }
	check lxcfs lxcfs_works
	check lxd lxd_running
	check pool "lxc storage show $POOL"
	check bridge "lxc network show $BRIDGE"
	check bridge6 "lxc network show $BRIDGE6"
	check images "image_current $DEBIAN_IMAGE '$DEBIAN_VERSION' && image_current $BUSYBOX_IMAGE '$BUSYBOX_VERSION' && image_current $JUPYTER_IMAGE '$JUPYTER_VERSION'"
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
