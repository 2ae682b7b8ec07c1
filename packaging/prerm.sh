#!/bin/sh
# prerm: stop the gateway when the package is removed (not on upgrade).
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl stop lxcgate.service >/dev/null || true
fi
exit 0
