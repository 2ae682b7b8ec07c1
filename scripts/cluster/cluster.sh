# cluster.sh: a real 3-member LXD cluster nested in the lab's LXD, for
# "scripts/lab.sh cluster up|down|status". Sourced by lab.sh (it uses say, die,
# up, status and the lab's settings); not run on its own.
#
# Layout:
#   host LXD project labcluster (default profile, pool and bridge of the lab),
#   outer instances labcluster-m1..3 from image labcluster-member (Debian 12 +
#   LXD 5.0.2 + dnsmasq), eth0 on lxdbr0 at a fixed 10.166.0.24N;
#   in member N: cluster member memberN at https://10.166.0.24N:8443, storage
#   pool "local" (dir), nested instances on br-labcluster 10.200.N.0/24, which
#   the host routes via 10.166.0.24N (so the client namespace, routed through
#   the host, reaches them too; no NAT);
#   member3 in cluster group "gpu" with user.lxcgate.gpus standing in for GPUs.
# State (client certificate, pinned cluster certificate, gateway config) in
# $CSTATE; the member image's build cache in $CACHE/member.

CSTATE=${LXCGATE_LAB_CLUSTER_STATE:-$STATE/cluster}
CPROJECT=labcluster
CMEMBERS=3
CIMAGE=labcluster-member
CNET=10.200 # member N routes CNET.N.0/24
CGPU_MEMBER=member3
CGPUS=2
CPORT=8443
CLUSTER_PACKAGES=(openssl jq)
CLUSTER_FILES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/rootfs

cmade() { mkdir -p "$CSTATE"; grep -qxF "$1" "$CSTATE/made" 2>/dev/null || echo "$1" >>"$CSTATE/made"; }
cwas_made() { grep -qxF "$1" "$CSTATE/made" 2>/dev/null; }

L() { lxc --project "$CPROJECT" "$@"; }
M1() { L exec labcluster-m1 -- "$@"; } # the nested cluster's CLI, through member1
maddr() { echo "10.166.0.24$1"; }
ms() { seq 1 "$CMEMBERS"; }

# The files copied into the member image; a change rebuilds the rootfs tarball
# (from the kept debootstrap output) and re-imports the image.
# nftables: LXD's routed NICs set up their reverse-path filter with it.
# iptables, netbase: what the lxcgate package depends on, for the test that
# installs it in a member-like container (e2e TestPackageInstalled).
MEMBER_PKGS=lxd,lxd-client,dnsmasq-base,iproute2,ifupdown,isc-dhcp-client,systemd-sysv,procps,nftables,iptables,netbase

# member_files_hash names the image's content: its files and packages.
member_files_hash() {
	(cd "$CLUSTER_FILES" && { echo "$MEMBER_PKGS"; find . -type l -printf '%p -> %l\n'; find . -type f -exec sha256sum {} +; } | LC_ALL=C sort | sha256sum | cut -c1-16)
}

build_member() { # hash
	local dir=$CACHE/member
	local root=$dir/base
	mkdir -p "$dir/meta"
	local pkgs=$MEMBER_PKGS
	if [ "$(cat "$root/.complete" 2>/dev/null)" != "$pkgs" ]; then
		say "building $CIMAGE with debootstrap (Debian 12 + LXD; about 3 minutes)"
		rm -rf "$root" "$dir/rootfs.hash"
		debootstrap --variant=minbase --include="$pkgs" \
			bookworm "$root" "$MIRROR" >"$dir/debootstrap.log" 2>&1 || die "debootstrap failed; see $dir/debootstrap.log"
		rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
		echo "$pkgs" >"$root/.complete"
	fi
	if [ "$(cat "$dir/rootfs.hash" 2>/dev/null)" != "$1" ] || [ ! -f "$dir/rootfs.tar.gz" ]; then
		say "packing $CIMAGE"
		rm -f "$root/etc/hostname" # keep the name LXD gives (the instance's)
		mkdir -p "$root/etc/labcluster"
		cp -a "$CLUSTER_FILES/." "$root/"
		tar -C "$root" --numeric-owner --exclude=./.complete -czf "$dir/rootfs.tar.gz.tmp" . && mv "$dir/rootfs.tar.gz.tmp" "$dir/rootfs.tar.gz"
		echo "$1" >"$dir/rootfs.hash"
	fi
	write_metadata "$dir/meta" "Debian 12 with LXD 5.0.2, lab cluster member (files $1)" debian bookworm
}

cluster_image() {
	local hash
	hash=$(member_files_hash)
	if image_present "$CIMAGE"; then
		grep -q "(files $hash)" <<<"$(lxc image info "$CIMAGE")" && return
		cwas_made "image:$CIMAGE" || die "image $CIMAGE is not this lab's; delete it or rename"
		say "member files changed: replacing image $CIMAGE (running members keep the old one until recreated)"
		lxc image delete "$CIMAGE"
	fi
	build_member "$hash"
	lxc image import "$CACHE/member/meta.tar.gz" "$CACHE/member/rootfs.tar.gz" --alias "$CIMAGE" >/dev/null
	cmade "image:$CIMAGE"
}

cluster_project() {
	lxc project show "$CPROJECT" >/dev/null 2>&1 && return
	lxc project create "$CPROJECT" -c features.images=false -c features.profiles=false \
		-c features.storage.volumes=false -c features.networks=false >/dev/null
	cmade project
}

client_cert() {
	[ -f "$CSTATE/client.crt" ] && [ -f "$CSTATE/client.key" ] && return
	mkdir -p "$CSTATE"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -sha384 -nodes \
		-keyout "$CSTATE/client.key" -out "$CSTATE/client.crt" -days 3650 -subj /CN=lxcgate-lab-cluster 2>/dev/null
	chmod 0600 "$CSTATE/client.key"
}

cluster_members_start() {
	local states i m
	states=$(L list -c ns -f csv 2>/dev/null)
	for i in $(ms); do
		m=labcluster-m$i
		if ! grep -q "^$m," <<<"$states"; then
			# The fixed address is outside nothing: a dynamic lease may hold it.
			if grep -qw "$(maddr "$i")" <<<"$(lxc list --all-projects -c 4 -f csv 2>/dev/null)"; then
				die "$(maddr "$i") is already taken on $BRIDGE; free it for cluster member $m"
			fi
			say "creating $m ($(maddr "$i"))"
			L init "$CIMAGE" "$m" -c security.nesting=true -c security.idmap.isolated=true \
				-c security.idmap.size=200000 >/dev/null
			cmade "instance:$m"
			L config device override "$m" eth0 ipv4.address="$(maddr "$i")" >/dev/null
			echo "$CNET.$i" | L file push -q - "$m/etc/labcluster/prefix"
			echo "root:100000:100000" | L file push -q - "$m/etc/subuid"
			echo "root:100000:100000" | L file push -q - "$m/etc/subgid"
		fi
		grep -q "^$m,RUNNING$" <<<"$states" || L start "$m" >/dev/null
	done
}

cluster_routes() {
	local i r want
	for i in $(ms); do
		r=$CNET.$i.0/24
		want="$r via $(maddr "$i") dev $BRIDGE"
		if ! ip -4 route show "$r" | grep -q "via $(maddr "$i") dev $BRIDGE"; then
			ip route replace $want
		fi
		cmade "route:$r"
	done
}

cluster_form() {
	local i members tok
	for i in $(ms); do
		L exec "labcluster-m$i" -- lxd waitready --timeout 120 || die "LXD in labcluster-m$i did not start"
	done
	if ! M1 lxc cluster show member1 >/dev/null 2>&1; then
		say "bootstrapping the cluster on member1"
		M1 lxd init --preseed <<YAML
config:
  core.https_address: $(maddr 1):$CPORT
cluster:
  server_name: member1
  enabled: true
storage_pools:
- name: local
  driver: dir
profiles:
- name: default
  devices:
    root: {path: /, pool: local, type: disk}
    eth0: {name: eth0, nictype: bridged, parent: br-labcluster, type: nic}
YAML
	fi
	members=$(M1 lxc cluster list -f csv | cut -d, -f1)
	for i in $(seq 2 "$CMEMBERS"); do
		grep -qx "member$i" <<<"$members" && continue
		say "joining member$i"
		# A pending token from an earlier, broken try is replaced.
		M1 lxc cluster revoke-token "member$i" >/dev/null 2>&1 || true
		tok=$(M1 lxc cluster add "member$i" --quiet)
		L exec "labcluster-m$i" -- lxd init --preseed <<YAML
cluster:
  enabled: true
  server_name: member$i
  server_address: $(maddr "$i"):$CPORT
  cluster_token: $tok
  member_config:
  - entity: storage-pool
    name: local
    key: source
    value: ""
YAML
	done
}

# A restarted member is listed Offline until its next heartbeat (seconds).
cluster_wait_online() {
	local n i
	for i in $(seq 1 60); do
		n=$(M1 lxc query '/1.0/cluster/members?recursion=1' | jq '[.[] | select(.status == "Online")] | length')
		[ "$n" = "$CMEMBERS" ] && return
		[ "$i" = 1 ] && say "waiting for every member to be online ($n of $CMEMBERS)"
		sleep 1
	done
	die "the cluster has $n of $CMEMBERS members online after a minute; see: lxc --project $CPROJECT exec labcluster-m1 -- lxc cluster list"
}

# What the gateway needs on the cluster: our client trusted, the busybox
# image, and a GPU member. One exec answers every check.
cluster_contents() {
	local fp have
	fp=$(openssl x509 -in "$CSTATE/client.crt" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)
	have=$(M1 sh -c "
		lxc config trust list -f csv | grep -q '${fp:0:12}' && echo trust
		lxc image info $BUSYBOX_IMAGE >/dev/null 2>&1 && echo image
		lxc cluster group show gpu 2>/dev/null | grep -q -- '- $CGPU_MEMBER\$' && echo group
		lxc cluster show $CGPU_MEMBER | grep -qx '  user.lxcgate.gpus: \"$CGPUS\"' && echo gpus
		for i in \$(seq 1 $CMEMBERS); do
			lxc cluster show member\$i | grep -qx \"  user.lxcgate.subnet: $CNET.\$i.128/25\" && echo subnet\$i
		done
		lxc image info $BUSYBOX_IMAGE 2>/dev/null | grep -q '$BUSYBOX_VERSION' && echo image-current
		true")
	if ! grep -qx trust <<<"$have"; then
		say "trusting the lab client certificate on the cluster"
		L file push -q "$CSTATE/client.crt" labcluster-m1/root/lxcgate-lab-client.crt
		M1 lxc config trust add /root/lxcgate-lab-client.crt --name lxcgate-lab-client >/dev/null
	fi
	if grep -qx image <<<"$have" && ! grep -qx image-current <<<"$have"; then
		M1 lxc image delete "$BUSYBOX_IMAGE" # an older build: its init ran DHCP over a routed address
		have=$(grep -vx image <<<"$have")
	fi
	if ! grep -qx image <<<"$have"; then
		say "importing $BUSYBOX_IMAGE into the cluster"
		build_busybox
		L file push -q "$CACHE/busybox/meta.tar.gz" "$CACHE/busybox/rootfs.tar.gz" labcluster-m1/root/
		M1 lxc image import /root/meta.tar.gz /root/rootfs.tar.gz --alias "$BUSYBOX_IMAGE" >/dev/null
		M1 rm -f /root/meta.tar.gz /root/rootfs.tar.gz
	fi
	if ! grep -qx group <<<"$have"; then
		say "cluster group gpu: $CGPU_MEMBER"
		M1 lxc cluster group show gpu >/dev/null 2>&1 || M1 lxc cluster group create gpu >/dev/null
		M1 lxc cluster group assign "$CGPU_MEMBER" default,gpu >/dev/null
	fi
	if ! grep -qx gpus <<<"$have"; then
		# No GPUs in the lab: a member config key stands in for them.
		member_key "$CGPU_MEMBER" user.lxcgate.gpus "$CGPUS"
	fi
	local i
	for i in $(seq 1 "$CMEMBERS"); do
		# The routed addresses lxcgate gives containers on member i.
		grep -qx "subnet$i" <<<"$have" || member_key "member$i" user.lxcgate.subnet "$CNET.$i.128/25"
	done
	[ -s "$CSTATE/cluster.crt" ] || L file pull -q labcluster-m1/var/lib/lxd/cluster.crt "$CSTATE/cluster.crt"
}

# member_key sets one config key of a cluster member (LXD 5.0 has no
# "lxc cluster set").
member_key() { # member key value
	M1 lxc cluster show "$1" |
		sed -e "/^  ${2//./\\.}:/d" -e 's/^config: {}$/config:/' -e "/^config:/a\\  $2: \"$3\"" |
		M1 lxc cluster edit "$1"
}

cluster_config() {
	local tmp=$CSTATE/lxcgate.toml.tmp
	cat >"$tmp" <<EOF
# lxcgate configuration for the lab's LXD cluster (written by scripts/lab.sh cluster up).
# Start a gateway with: lxcgate --config $CSTATE/lxcgate.toml --data DIR serve
# (the [lxd] keys need a gateway that connects to LXD over HTTPS).

[ssh]
# Another port than a single-host gateway's default.
listen = ":2223"

[lxd]
# Any member's address works: every member serves the same cluster certificate.
url = "https://$(maddr 1):$CPORT"
server_cert = "$CSTATE/cluster.crt"
client_cert = "$CSTATE/client.crt"
client_key = "$CSTATE/client.key"

[containers]
# The cluster holds only the busybox image; storage is a dir pool per member.
default_image = "$BUSYBOX_IMAGE"
images = ["$BUSYBOX_IMAGE"]
cpu = 1
memory = "256MiB"
disk = "1GiB"
project_prefix = "lxcgate-"

[quota]
gpus = 1

[ports]
# The host routes $CNET.N.0/24 via member N, so DNAT reaches nested instances.
# Own chains and range: a single-host gateway may run on the same host.
range = "31000-31999"
chain_prefix = "LXCGATECL"
EOF
	if ! cmp -s "$tmp" "$CSTATE/lxcgate.toml"; then mv "$tmp" "$CSTATE/lxcgate.toml"; else rm -f "$tmp"; fi
}

# One cluster up or down at a time (several engineers share the lab).
cluster_lock() { mkdir -p "$STATE"; exec 9>"$STATE/cluster.lock"; flock 9; }

cluster_up() {
	need_root cluster up
	cluster_lock
	status >/dev/null 2>&1 || up
	install_packages "${CLUSTER_PACKAGES[@]}"
	mkdir -p "$CSTATE"
	cluster_image
	cluster_project
	client_cert
	cluster_members_start
	cluster_routes
	cluster_form
	cluster_wait_online
	cluster_contents
	cluster_config
	say "cluster ready: $(for i in $(ms); do printf 'member%s=%s ' "$i" "$(maddr "$i")"; done)config $CSTATE/lxcgate.toml"
}

cluster_down() {
	need_root cluster down
	cluster_lock
	local r m
	if ! lxd_running && grep -q '^instance:' "$CSTATE/made" 2>/dev/null; then
		die "lxd is not running: start it (scripts/lab.sh up), then run cluster down again"
	fi
	for r in $(grep '^route:' "$CSTATE/made" 2>/dev/null | cut -d: -f2); do
		ip route del "$r" 2>/dev/null || true
	done
	if lxd_running; then
		for m in $(grep '^instance:' "$CSTATE/made" 2>/dev/null | cut -d: -f2); do
			L delete --force "$m" >/dev/null 2>&1 || true
		done
		if cwas_made project; then lxc project delete "$CPROJECT" >/dev/null 2>&1 || say "kept project $CPROJECT: not empty"; fi
		if cwas_made "image:$CIMAGE"; then lxc image delete "$CIMAGE" >/dev/null 2>&1 || true; fi
	fi
	rm -rf "$CSTATE"
	if [ "${1:-}" = --purge ]; then
		rm -rf "$CACHE/member"
		say "cluster down (the member image's cache $CACHE/member removed too)"
	else
		say "cluster down ($CACHE/member is kept; --purge removes it)"
	fi
}

json_str() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }

# cluster_status [--json]: a line per member, or the JSON tools read; exit 1
# unless all members run, are online in the nested cluster, answer on their
# address and have their subnet routed, and the gateway config is written.
cluster_status() {
	local json=0 ok=0 i m name addr state online reach members="" sep=""
	[ "${1:-}" = --json ] && json=1
	local states="" nested=""
	if lxd_running; then
		states=$(L list -c ns -f csv 2>/dev/null || true)
		if grep -q '^labcluster-m1,RUNNING$' <<<"$states" && command -v jq >/dev/null; then
			nested=$(M1 lxc query /1.0/cluster/members?recursion=1 2>/dev/null |
				jq -r '.[] | "\(.server_name) \(.status)"' 2>/dev/null || true)
		fi
	fi
	for i in $(ms); do
		name=member$i m=labcluster-m$i addr=$(maddr "$i")
		state=$(grep "^$m," <<<"$states" | cut -d, -f2 || true)
		online=$(grep "^$name " <<<"$nested" | cut -d' ' -f2 || true)
		reach=unreachable
		if [ "$state" = RUNNING ] && timeout 1 bash -c "exec 3<>/dev/tcp/$addr/$CPORT" 2>/dev/null; then
			reach=reachable
			ip -4 route show "$CNET.$i.0/24" | grep -q "via $addr dev $BRIDGE" || reach=no-route
		fi
		[ "$state" = RUNNING ] && [ "$online" = Online ] && [ "$reach" = reachable ] || ok=1
		if [ -n "$state" ]; then
			members+="$sep{\"name\": $(json_str "$name"), \"address\": $(json_str "$addr"), \"outer_project\": $(json_str "$CPROJECT"), \"outer_instance\": $(json_str "$m")}"
			sep=", "
		fi
		[ $json = 1 ] || printf '%-8s %-13s %s/%-14s %-8s %-8s %s\n' "$name" "$addr" "$CPROJECT" "$m" "${state:-missing}" "${online:-absent}" "$reach"
	done
	[ -s "$CSTATE/lxcgate.toml" ] && [ -s "$CSTATE/cluster.crt" ] || ok=1
	if [ $json = 1 ]; then
		printf '{"config": %s, "members": [%s]}\n' "$(json_str "$CSTATE/lxcgate.toml")" "$members"
	else
		printf '%-8s %s %s\n' config "$CSTATE/lxcgate.toml" "$([ -s "$CSTATE/lxcgate.toml" ] && echo ok || echo missing)"
	fi
	return $ok
}

cluster_main() {
	case "${1:-}" in
	up) cluster_up ;;
	down) cluster_down "${2:-}" ;;
	status) cluster_status "${2:-}" ;;
	*) echo "usage: $0 cluster up|down [--purge]|status [--json]" >&2; exit 2 ;;
	esac
}
