"""The shell scripts of Kumo's ``cirros`` image (:mod:`kumo.image.cirros` packs them):
``/sbin/init`` (:data:`INIT`, what CirrOS's init does, in busybox ash) and udhcpc's
event script (:data:`UDHCPC_SCRIPT`). The boot sequence and the console lines they log
are described in :mod:`kumo.image.cirros`."""
from __future__ import annotations

__all__ = ["INIT", "UDHCPC_SCRIPT"]

INIT = r'''#!/bin/sh
# /sbin/init of Kumo's cirros image: PID 1, in shell, as CirrOS's init is.
# Logs every step to the console (stdout) as "cirros-init: ...".
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
umask 022
IFACE=eth0
MD=http://169.254.169.254
STATE=/run/cirros
DHCP_WAIT=30     # seconds to wait for a lease before booting on without one
MD_TRIES=5       # metadata attempts while the server is unreachable

log() { echo "cirros-init: $*"; }
logcmd() { "$@" 2>&1 | while IFS= read -r l; do log "  $l"; done; }

# ---- stopping: SIGTERM (busybox reboot), SIGUSR2 (poweroff), SIGUSR1 (halt): exit 0;
# SIGHUP: exit 2, "start me again"
alive() {  # any process besides PID 1 that is not a zombie?
  for s in /proc/[0-9]*/stat; do
    read -r p c st rest 2>/dev/null < "$s" || continue
    [ "$p" = 1 ] || [ "$st" = Z ] || return 0
  done
  return 1
}
stop() {  # $1: what, $2: exit status
  trap '' TERM INT HUP USR1 USR2
  log "$1: stopping all processes"
  if [ "$$" = 1 ]; then
    kill -TERM -1 2>/dev/null
    i=0; while alive && [ $i -lt 30 ]; do usleep 100000; i=$((i+1)); done
    alive && { log "$1: killing what is left"; kill -KILL -1 2>/dev/null; }
  else
    kill $(jobs -p) 2>/dev/null
  fi
  sync
  log "$1: done, exiting with status $2"
  exit "$2"
}
trap 'stop "SIGTERM: power off" 0' TERM
trap 'stop "SIGINT: power off" 0' INT
trap 'stop "poweroff" 0' USR2
trap 'stop "halt" 0' USR1
trap 'stop "SIGHUP: reboot" 2' HUP

# ---- filesystems (nothing may redirect to /dev/null before /dev is set up) -----------
mounted() { grep -q "^[^ ]* $1 " /proc/mounts; }
[ -e /proc/self/stat ] || mount -t proc -o nosuid,nodev,noexec proc /proc \
  || log "warning: cannot mount /proc"
T0=$(cut -d' ' -f1 /proc/uptime)
log "Kumo cirros image starting ($(busybox 2>&1 | head -n 1 | cut -d' ' -f1-2), pid $$)"
if [ -c /dev/null ] && [ -c /dev/urandom ]; then
  log "/dev: provided by the host"
elif mount -t tmpfs -o nosuid,mode=0755,size=1024k dev /dev \
     && mknod -m 666 /dev/null c 1 3; then
  mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/full c 1 7
  mknod -m 666 /dev/random c 1 8; mknod -m 666 /dev/urandom c 1 9
  mknod -m 666 /dev/tty c 5 0
  log "/dev: tmpfs with basic device nodes"
else
  mounted /dev && umount /dev
  if mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev; then log "/dev: devtmpfs"
  else log "warning: cannot set up /dev"; fi
fi
mounted /sys || mount -t sysfs -o nosuid,nodev,noexec sysfs /sys \
  || log "warning: cannot mount /sys"
mkdir -p /dev/pts /dev/shm
mounted /dev/pts || mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts \
  && { [ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx; }
mounted /dev/shm || mount -t tmpfs -o nosuid,nodev,mode=1777 shm /dev/shm
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
mounted /run || mount -t tmpfs -o nosuid,nodev,mode=0755 run /run
mounted /tmp || mount -t tmpfs -o nosuid,nodev,mode=1777 tmp /tmp
mkdir -p "$STATE" /var/www
hostname -F /etc/hostname 2>/dev/null || hostname cirros

# ---- network: lo, then eth0 by DHCP --------------------------------------------------
ip link set lo up
i=0
while ! ip link show "$IFACE" >/dev/null 2>&1; do
  [ $i -eq 0 ] && log "waiting for $IFACE"
  i=$((i+1)); [ $i -ge 100 ] && break
  usleep 100000
done
LEASE=""
if ip link show "$IFACE" >/dev/null 2>&1; then
  ip link set "$IFACE" up
  log "starting DHCP on $IFACE (udhcpc)"
  udhcpc -f -i "$IFACE" -s /etc/udhcpc/default.script -t 3 -T 2 -A 3 \
    -O mtu -O staticroutes -O domain 2>&1 &
  i=0
  while [ ! -s "$STATE/dhcp.$IFACE" ] && [ $i -lt $((DHCP_WAIT * 10)) ]; do
    usleep 100000; i=$((i+1))
  done
  if [ -s "$STATE/dhcp.$IFACE" ]; then
    . "$STATE/dhcp.$IFACE"
    LEASE=$DHCP_IP
    log "$IFACE: address $DHCP_IP/$DHCP_MASK, router ${DHCP_ROUTER:-none}, dns ${DHCP_DNS:-none}, mtu ${DHCP_MTU:-default}"
  else
    log "no DHCP lease on $IFACE after ${DHCP_WAIT}s; booting on (udhcpc keeps trying)"
  fi
else
  log "no $IFACE: booting without network"
fi
log "network info:"
logcmd ip -o link
logcmd ip -o addr
logcmd ip route

# ---- metadata ------------------------------------------------------------------------
ERR=""
# (busybox-static 1.35 wget -T segfaults, hence timeout(1))
fetch() {  # PATH FILE -> 0 fetched, 1 not found (HTTP 4xx), 2 unreachable
  ERR=$(timeout 10 wget -q -O "$2.part" "$MD$1" 2>&1) && { mv "$2.part" "$2"; return 0; }
  rm -f "$2.part"
  case "$ERR" in *"HTTP/"*" 4"[0-9][0-9]*) return 1 ;; esac
  return 2
}
fetch_retry() {  # like fetch, retrying while the server is unreachable
  n=1
  while :; do
    fetch "$1" "$2"; rc=$?
    { [ $rc -ne 2 ] || [ $n -ge $MD_TRIES ]; } && return $rc
    log "metadata: $MD$1 failed (try $n/$MD_TRIES): $ERR"
    n=$((n+1)); sleep 1
  done
}
json_str() {  # KEY FILE -> the first string value of "KEY" (flat enough for metadata)
  sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$2" | head -n 1
}
json_keys() {  # FILE -> the values of the "public_keys" object, one a line
  grep -o '"public_keys"[[:space:]]*:[[:space:]]*{[^}]*}' "$1" \
    | sed 's/^"public_keys"[[:space:]]*:[[:space:]]*{//' \
    | grep -o '"[^"]*"[[:space:]]*:[[:space:]]*"[^"]*"' \
    | sed 's/^"[^"]*"[[:space:]]*:[[:space:]]*"//; s/"$//; s/\\n$//; s#\\/#/#g'
}
SOURCE=""; MD_HOSTNAME=""; UD_PATH=""
: > "$STATE/keys"
if [ -n "$LEASE" ]; then
  log "metadata: fetching $MD/openstack/latest/meta_data.json"
  if fetch_retry /openstack/latest/meta_data.json "$STATE/meta_data.raw"; then
    SOURCE=openstack
    tr '\n' ' ' < "$STATE/meta_data.raw" > "$STATE/meta_data.json"
    MD_HOSTNAME=$(json_str hostname "$STATE/meta_data.json")
    log "metadata: instance $(json_str uuid "$STATE/meta_data.json") (openstack format)"
    json_keys "$STATE/meta_data.json" > "$STATE/keys"
    UD_PATH=/openstack/latest/user_data
  else
    log "metadata: no openstack metadata ($ERR); trying EC2 format"
    if fetch_retry /latest/meta-data/instance-id "$STATE/instance-id"; then
      SOURCE=ec2
      log "metadata: instance $(cat "$STATE/instance-id") (ec2 format)"
      fetch /latest/meta-data/hostname "$STATE/hostname" && MD_HOSTNAME=$(head -n 1 "$STATE/hostname")
      fetch /latest/meta-data/public-keys/0/openssh-key "$STATE/keys"
      UD_PATH=/latest/user-data
    else
      log "metadata: no metadata service ($ERR)"
    fi
  fi
else
  log "metadata: skipped (no network)"
fi

# ---- hostname ------------------------------------------------------------------------
NAME=$(printf %s "${MD_HOSTNAME:-$DHCP_HOSTNAME}" | tr -cd 'A-Za-z0-9.-' | cut -c1-255)
SHORT=$(printf %s "${NAME%%.*}" | cut -c1-63)
if [ -n "$SHORT" ]; then
  hostname "$SHORT"
  echo "$SHORT" > /etc/hostname
  { echo "127.0.0.1 localhost"; echo "::1 localhost ip6-localhost ip6-loopback"
    if [ "$NAME" = "$SHORT" ]; then echo "127.0.1.1 $SHORT"; else echo "127.0.1.1 $NAME $SHORT"; fi
  } > /etc/hosts
  log "hostname: $SHORT (from ${SOURCE:-dhcp}${NAME:+, fqdn $NAME})"
else
  log "hostname: $(hostname) (default)"
fi

# ---- public keys for the cirros user -------------------------------------------------
SSH=/home/cirros/.ssh
grep -v '^[[:space:]]*$' "$STATE/keys" > "$STATE/keys.clean"
NKEYS=$(wc -l < "$STATE/keys.clean")
if [ "$NKEYS" -gt 0 ]; then
  mkdir -p "$SSH"
  cp "$STATE/keys.clean" "$SSH/authorized_keys"
  chmod 700 "$SSH"; chmod 600 "$SSH/authorized_keys"
  chown -R 1000:1000 "$SSH"
  log "public keys: wrote $NKEYS key(s) to $SSH/authorized_keys"
  while read -r kt kd kc; do log "  $kt ...${kd#"${kd%????????????}"} ${kc}"; done < "$SSH/authorized_keys"
else
  log "public keys: none"
fi

# ---- ssh server: dropbear on port 22, host keys made at first boot (as CirrOS) -------
KEYS=/etc/dropbear
if [ -x /usr/sbin/dropbear ]; then
  mkdir -p "$KEYS"; chmod 700 "$KEYS"
  KEYOPTS=""
  for t in rsa ecdsa ed25519; do
    k="$KEYS/dropbear_${t}_host_key"
    if [ ! -s "$k" ]; then
      rm -f "$k"
      dropbearkey -t "$t" -f "$k" > /dev/null 2>&1 || { log "ssh: cannot make a $t host key"; continue; }
      log "ssh: made $t host key"
    fi
    KEYOPTS="$KEYOPTS -r $k"
    log "ssh: host key $(dropbearkey -y -f "$k" 2>/dev/null | sed -n 's/^Fingerprint: //p') ($t)"
  done
  dropbear -F -E -p 22 $KEYOPTS 2>&1 &
  log "ssh: dropbear listening on port 22 (user cirros: public keys, or password gocubsgo)"
else
  log "ssh: no ssh server in this image"
fi

# ---- user data -----------------------------------------------------------------------
UD=$STATE/user-data
if [ -n "$UD_PATH" ] && fetch "$UD_PATH" "$UD"; then
  if [ "$(head -c 2 "$UD")" = "#!" ]; then
    chmod 700 "$UD"
    log "user-data: running script ($(wc -c < "$UD") bytes, $(head -n 1 "$UD"))"
    rm -f "$UD.out" "$UD.done"; mkfifo "$UD.out"
    { while IFS= read -r l || [ -n "$l" ]; do log "user-data: $l"; done < "$UD.out"
      : > "$UD.done"; } &
    (cd /root && exec "$UD") < /dev/null > "$UD.out" 2>&1 &
    wait $!
    rc=$?
    i=0; while [ ! -e "$UD.done" ] && [ $i -lt 20 ]; do usleep 100000; i=$((i+1)); done
    log "user-data: exited with status $rc"
  elif [ -s "$UD" ]; then
    log "user-data: $(wc -c < "$UD") bytes, not a script (no #!): not run"
  else
    log "user-data: empty"
  fi
elif [ -n "$UD_PATH" ]; then
  log "user-data: none"
fi

# ---- services ------------------------------------------------------------------------
hostname > /var/www/index.html
httpd -f -p 80 -h /var/www 2>&1 &
log "httpd: serving /var/www (the hostname) on port 80"
T1=$(cut -d' ' -f1 /proc/uptime 2>/dev/null)
log "boot finished in $(echo "$T0 $T1" | awk '{printf "%.2f", $2 - $1}')s: hostname $(hostname), $IFACE ${LEASE:-unconfigured}"

# ---- stay alive: reap children (and orphans reparented to PID 1) until told to stop ---
while :; do
  sleep 10 &
  wait $!
done
'''

UDHCPC_SCRIPT = r'''#!/bin/sh
# udhcpc event script of Kumo's cirros image (udhcpc -s). $1 is the event:
# deconfig, bound, renew, leasefail or nak. udhcpc passes the lease in the environment:
# interface ip mask (prefix length) broadcast router dns domain mtu hostname
# staticroutes ("net/len gw ..." from option 121) lease serverid.
STATE=/run/cirros
log() { echo "cirros-init: dhcp: $*"; }
event=$1
case "$event" in
deconfig)
  ip -4 addr flush dev "$interface" 2>/dev/null
  ip link set dev "$interface" up
  ;;
leasefail|nak)
  log "$event on $interface${message:+: $message}"
  ;;
bound|renew)
  if [ -n "$mtu" ] && [ "$mtu" -ge 576 ] 2>/dev/null; then
    ip link set dev "$interface" mtu "$mtu"
  fi
  if ! ip -o -4 addr show dev "$interface" | grep -q " $ip/${mask:-24} "; then
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
  fi
  if [ -n "$staticroutes" ]; then  # RFC 3442: classless routes replace the router option
    set -- $staticroutes
    while [ $# -ge 2 ]; do
      if [ "$2" = 0.0.0.0 ]; then ip route replace "$1" dev "$interface"
      else ip route replace "$1" via "$2" dev "$interface"; fi
      shift 2
    done
  elif [ -n "$router" ]; then
    for r in $router; do
      ip route replace default via "$r" dev "$interface" && break
    done
  fi
  if [ -n "$dns" ]; then
    { echo "# written by udhcpc for $interface (Kumo cirros image)"
      [ -n "$domain" ] && echo "search $domain"
      for s in $dns; do echo "nameserver $s"; done
    } > /etc/resolv.conf.new && mv /etc/resolv.conf.new /etc/resolv.conf
  fi
  mkdir -p "$STATE"
  q() { printf %s "$1" | tr -d "'\\\\"; }
  { echo "DHCP_IP='$(q "$ip")'"; echo "DHCP_MASK='$(q "${mask:-24}")'"
    echo "DHCP_ROUTER='$(q "$router")'"; echo "DHCP_DNS='$(q "$dns")'"
    echo "DHCP_DOMAIN='$(q "$domain")'"; echo "DHCP_MTU='$(q "$mtu")'"
    echo "DHCP_HOSTNAME='$(q "$hostname")'"; echo "DHCP_ROUTES='$(q "$staticroutes")'"
    echo "DHCP_SERVER='$(q "$serverid")'"; echo "DHCP_LEASE='$(q "$lease")'"
  } > "$STATE/dhcp.$interface.new" && mv "$STATE/dhcp.$interface.new" "$STATE/dhcp.$interface"
  log "$event: $interface $ip/${mask:-24} router ${router:-none} dns ${dns:-none} mtu ${mtu:-default}${staticroutes:+ routes $staticroutes} lease ${lease:-?}s"
  ;;
esac
exit 0
'''

#: ``/usr/bin/lsblk``: busybox has none, and Tempest's validation (``lsblk -lb --nodeps``,
#: ``lsblk --nodeps --noheadings --output NAME``) counts the server's disks with it. The
#: whole disks in /dev (vd*, sd*, xvd*: the nodes Kumo makes for attached volumes), in
#: util-linux's columns; sizes from /sys/dev/block (readable by every user), bytes with
#: ``-b``, else MiB. Options other than -b, -n/--noheadings, -o/--output NAME,
#: -l/--list, -d/--nodeps are accepted and ignored.
LSBLK = r'''#!/bin/sh
heads=1; bytes=0; names=0
for a in "$@"; do
  case $a in
    --noheadings) heads=0 ;;
    --bytes) bytes=1 ;;
    --output|-o|NAME|--output=NAME) names=1 ;;
    --*) ;;
    -*) case $a in *n*) heads=0 ;; esac
        case $a in *b*) bytes=1 ;; esac
        case $a in *o*) names=1 ;; esac ;;
  esac
done
row() {
  if [ $names = 1 ]; then echo "$1"
  else printf '%-7s %7s %2s %13s %2s %-4s %s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7"; fi
}
[ $heads = 1 ] && row NAME MAJ:MIN RM SIZE RO TYPE MOUNTPOINT
for d in /dev/vd* /dev/sd* /dev/xvd*; do
  [ -b "$d" ] || continue
  n=${d#/dev/}
  case $n in *[0-9]) continue ;; esac
  set -- $(stat -c '%t %T' "$d")
  mm="$(printf %d 0x$1):$(printf %d 0x$2)"
  sectors=$(cat /sys/dev/block/$mm/size 2>/dev/null || echo 0)
  ro=$(cat /sys/dev/block/$mm/ro 2>/dev/null || echo 0)
  if [ $bytes = 1 ]; then size=$((sectors * 512)); else size="$((sectors / 2048))M"; fi
  mp=$(grep "^$d " /proc/mounts | cut -d' ' -f2 | head -n 1)
  row "$n" "$mm" 0 "$size" "$ro" disk "$mp"
done
exit 0
'''
