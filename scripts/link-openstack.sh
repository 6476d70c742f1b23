#!/usr/bin/env bash
# Make the `openstack` CLI (python-openstackclient, installed in the virtualenv) reachable
# as the README writes it: as root, link <venv>/bin/openstack into /usr/local/bin unless
# an `openstack` is already on PATH; otherwise say how to put it there.
#   link-openstack.sh [VENV]            link (idempotent)
#   link-openstack.sh --remove [VENV]   remove the link if it points into VENV
set -euo pipefail
remove=0
[ "${1:-}" = "--remove" ] && { remove=1; shift; }
venv=$(realpath -m "${1:-.venv}")
link=${KUMO_BIN_DIR:-/usr/local/bin}/openstack
if [ "$remove" = 1 ]; then
  if [ -L "$link" ] && [ "$(readlink "$link")" = "$venv/bin/openstack" ]; then
    rm -f "$link" && echo "kumo: removed $link"
  fi
  exit 0
fi
found=$(command -v openstack 2>/dev/null || true)
if [ -n "$found" ]; then
  exit 0  # already reachable (our link, or the operator's own client)
fi
if [ "$(id -u)" -eq 0 ] && [ -d "$(dirname "$link")" ] && [ ! -e "$link" ]; then
  ln -s "$venv/bin/openstack" "$link"
  echo "kumo: linked $link -> $venv/bin/openstack"
else
  echo "kumo: ---------------------------------------------------------------------"
  echo "kumo: the openstack CLI is in $venv/bin; in each terminal you use it, run"
  echo "kumo:     export PATH=$venv/bin:\$PATH"
  echo "kumo: ---------------------------------------------------------------------"
fi
