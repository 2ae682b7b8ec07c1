#!/bin/sh
# prerm: when the package is removed (not on upgrade), stop the gateway and
# take its DNAT rules away (its nftables table, iptables chains and jumps):
# with no gateway, published ports must not stay open to the containers.
set -e
if [ "$1" = remove ]; then
	if [ -d /run/systemd/system ]; then
		systemctl stop lxcgate.service >/dev/null || true
	fi
	/usr/bin/lxcgate --config /etc/lxcgate/lxcgate.toml --data /var/lib/lxcgate portmap flush >/dev/null 2>&1 || true
fi
exit 0
