#!/bin/sh
# postrm: forget the unit. The user, /var/lib/lxcgate (the database and host
# key) and iptables chains stay; 'lxcgate portmap flush' before removal
# takes the chains away.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
exit 0
