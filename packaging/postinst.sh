#!/bin/sh
# postinst: the system user, its access to LXD's socket, systemd's view.
set -e

if [ "$1" = configure ]; then
	if command -v systemd-sysusers >/dev/null 2>&1; then
		systemd-sysusers /usr/lib/sysusers.d/lxcgate.conf
	elif ! getent passwd lxcgate >/dev/null; then
		adduser --system --group --home /var/lib/lxcgate lxcgate
	fi
	# LXD's socket is writable by its group (lxd with the Debian package and
	# the snap); never add lxcgate to root's group.
	groups=""
	getent group lxd >/dev/null && groups=lxd
	for s in "${LXD_DIR:-/var/lib/lxd}/unix.socket" /var/lib/lxd/unix.socket /var/snap/lxd/common/lxd/unix.socket; do
		if [ -S "$s" ]; then
			g=$(stat -c %G "$s")
			[ "$g" != root ] && [ "$g" != UNKNOWN ] && groups="$groups $g"
		fi
	done
	for g in $groups; do
		usermod -a -G "$g" lxcgate
	done
	install -d -o lxcgate -g lxcgate -m 0700 /var/lib/lxcgate
fi

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
	if [ -n "$2" ]; then
		# An upgrade: restart the gateway if it runs (it drains first).
		systemctl try-restart lxcgate.service >/dev/null || true
	fi
fi
exit 0
