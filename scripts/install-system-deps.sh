#!/usr/bin/env bash
# Debian packages Kumo and its tests need. Installs only what is missing.
set -euo pipefail
need=()
command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /usr/lib/postgresql ] \
  && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# the data plane: nftables (nft -j), ping for the data-plane tests and troubleshooting
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
# dnsmasq (DHCP agent) and iperf3 (benchmarks/dataplane.py)
command -v dnsmasq >/dev/null 2>&1 || need+=(dnsmasq-base)
command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)
# busybox-static: the default `cirros` image is built from it (kumo/image/cirros.py)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' \
  || need+=(busybox-static)
# --- ssh (issue 15): dropbear-bin is the cirros image's SSH server (runtime,
# kumo/image/dropbear.py); openssh-client's ssh and ssh-keygen run tests/dataplane/test_ssh.py
[ -x /usr/sbin/dropbear ] && [ -x /usr/bin/dropbearkey ] || need+=(dropbear-bin)
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 \
  || need+=(openssh-client)
# --- end ssh
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: need root to install: ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi
