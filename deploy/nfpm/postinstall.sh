#!/bin/sh
# headcount package, after install or upgrade: create the headcount user and
# /var/lib/headcount (0700), tell systemd about the unit, and restart the
# service only if it was running (an upgrade). A fresh install starts nothing.
set -e
if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers headcount.conf
else
  getent group headcount >/dev/null || groupadd --system headcount
  getent passwd headcount >/dev/null ||
    useradd --system --gid headcount --home-dir /var/lib/headcount --no-create-home \
      --shell /usr/sbin/nologin --comment "headcount session meter" headcount
fi
if command -v systemd-tmpfiles >/dev/null 2>&1; then
  systemd-tmpfiles --create headcount.conf
else
  install -d -m 0700 -o headcount -g headcount /var/lib/headcount
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  systemctl try-restart headcount.service || true
fi
exit 0
