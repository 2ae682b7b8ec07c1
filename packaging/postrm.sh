#!/bin/sh
# postrm: forget the unit. A removal keeps the user and /var/lib/lxcgate
# (the database and host key); a purge removes them too, and dpkg the
# configuration: what the package made, and nothing else.
set -e
if [ "$1" = purge ]; then
	rm -rf /var/lib/lxcgate
	if getent passwd lxcgate >/dev/null && command -v deluser >/dev/null 2>&1; then
		deluser --system --quiet lxcgate >/dev/null 2>&1 || true
	fi
	if getent group lxcgate >/dev/null && command -v delgroup >/dev/null 2>&1; then
		delgroup --system --quiet lxcgate >/dev/null 2>&1 || true
	fi
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
exit 0
