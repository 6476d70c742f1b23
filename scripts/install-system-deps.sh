#!/usr/bin/env bash
# Debian packages Kumo needs; installs only what is missing.
#   install-system-deps.sh          what `kumo up` runs on (make up)
#   install-system-deps.sh --test   that, plus what the tests and benchmarks need (make test)
set -euo pipefail
test_deps=0
[ "${1:-}" = "--test" ] && test_deps=1
need=()
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# the data plane: nftables (nft -j), dnsmasq (the DHCP agent)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v dnsmasq >/dev/null 2>&1 || need+=(dnsmasq-base)
# troubleshooting (README): ping from the host and namespaces, tcpdump on bridges and taps
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
# busybox-static: the default `cirros` image is built from it (kumo/image/cirros.py)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' \
  || need+=(busybox-static)
# keepalived: HA routers' VRRP (kumo/agent/dataplane/keepalived.py)
[ -x /usr/sbin/keepalived ] || need+=(keepalived)
# e2fsprogs: volumes from images become ext4 filesystems (kumo/volume/drivers.py)
command -v mkfs.ext4 >/dev/null 2>&1 && command -v resize2fs >/dev/null 2>&1 \
  || need+=(e2fsprogs)
# dropbear-bin: the cirros image's SSH server (kumo/image/dropbear.py)
[ -x /usr/sbin/dropbear ] && [ -x /usr/bin/dropbearkey ] || need+=(dropbear-bin)
# genisoimage: servers' config drives, as Nova builds them (kumo/agent/virt/configdrive.py);
# its isoinfo reads them back
command -v genisoimage >/dev/null 2>&1 && command -v isoinfo >/dev/null 2>&1 \
  || need+=(genisoimage)
if [ "$test_deps" = 1 ]; then
  # PostgreSQL: every API test also runs against it; iperf3: benchmarks/dataplane.py
  command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /usr/lib/postgresql ] \
    && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
  command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)
  # openssh-client: ssh and ssh-keygen for tests/dataplane/test_ssh.py
  command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 \
    || need+=(openssh-client)
  # chromium, chromium-driver: the dashboard's browser tests (tests/browser/, Selenium)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
  # conntrack: tests/dataplane/test_sg_stateless.py checks stateless groups leave no entry
  [ -x /usr/sbin/conntrack ] || need+=(conntrack)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: need root to install: ${need[*]}" >&2
    exit 1
  fi
  echo "kumo: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi
