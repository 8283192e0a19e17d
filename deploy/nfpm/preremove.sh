#!/bin/sh
# headcount package, before removal (not before an upgrade): stop and
# disable the service. deb passes "remove", rpm passes 0 left installed.
set -e
case "$1" in
remove | 0)
  if command -v systemctl >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then systemctl stop headcount.service || true; fi
    systemctl --no-reload disable headcount.service >/dev/null 2>&1 || true
  fi
  ;;
esac
exit 0
