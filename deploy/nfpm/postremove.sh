#!/bin/sh
# headcount package, after removal: forget the unit. The database under
# /var/lib/headcount holds billing counts and the headcount user owns it:
# both stay, also on purge; remove them by hand once the counts are no
# longer needed (docs/operations.md, Uninstall).
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
case "$1" in
purge)
  if [ -d /var/lib/headcount ]; then
    echo "headcount: /var/lib/headcount (the database) is kept; remove it and the headcount user by hand once its counts are no longer needed"
  fi
  ;;
esac
exit 0
