"""The netns driver's instance scripts: the supervisor (restarts init when it asks)
and ``boot.sh`` (PID 1 of the instance until it execs the image's init: mounts the root
filesystem, /proc, /sys, /dev, /tmp, the rescue layout). See
:mod:`kumo.agent.virt.netns`."""

SUPERVISOR = r'''#!/bin/sh
# Kumo instance supervisor: runs boot.sh in new PID/mount/UTS/IPC(/time) namespaces, restarts
# it when init asks (status 2, or SIGHUP), records init's last status in ./exit.
DIR=$1
cd "$DIR" || exit 1
set -- $(cat /proc/$$/stat)
echo "$$ ${22}" > supervisor.pid.tmp && mv supervisor.pid.tmp supervisor.pid
for cg in $(cat cgroups 2>/dev/null); do
  echo $$ > "$cg/cgroup.procs" || echo "kumo: cannot join cgroup $cg" >> console.log
done
# a time namespace per boot whose boot clock starts at 0, so /proc/uptime inside is the
# instance's own (Tempest's reboot tests read the boot time from it); none when the
# kernel or unshare cannot
timens=0
unshare --time --boottime 0 true 2>/dev/null && timens=1
quick=0
while :; do
  rm -f exit
  t0=$(date +%s)
  set --
  [ $timens = 1 ] && set -- --time --boottime "-$(cut -d. -f1 /proc/uptime)"
  unshare --pid --mount --uts --ipc "$@" --fork --kill-child --propagation private \
    /bin/sh "$DIR/boot.sh" < /dev/null >> console.log 2>&1 &
  echo $! > unshare.pid
  wait $!
  rc=$?
  echo $rc > exit
  [ -e stop ] && exit 0
  case $rc in 2|129) ;; *) exit 0 ;; esac
  if [ $(( $(date +%s) - t0 )) -lt 5 ]; then quick=$((quick + 1)); else quick=0; fi
  if [ $quick -ge 5 ]; then
    echo "kumo: init restarted 5 times within 5 s each; giving up" >> console.log
    echo 1 > exit
    exit 0
  fi
  echo "kumo: init asked for a restart (status $rc); restarting" >> console.log
  sleep 1
done
'''

BOOT = r'''#!/bin/sh
# Kumo instance boot: PID 1 of the instance's PID namespace until it execs init.
set -e
DIR={dir}
ROOT="$DIR/rootfs"
if [ {mode} = overlay ]; then
  mount -t overlay overlay -o "lowerdir={base},upperdir=$DIR/upper,workdir=$DIR/work" "$ROOT"
elif [ {mode} = volume ]; then
  mount {base} "$ROOT"
fi
if [ -n {rescue} ]; then
  # rescue: the rescue image's tree is /, the server's own root at /mnt/rescue
  R="$DIR/rescue-root"
  if [ {rescue_mode} = overlay ]; then
    mount -t overlay overlay -o "lowerdir={rescue},upperdir=$DIR/rescue-upper,workdir=$DIR/rescue-work" "$R"
  fi
  mkdir -p "$R/mnt/rescue"
  mount --bind "$ROOT" "$R/mnt/rescue"
  ROOT="$R"
fi
mkdir -p "$ROOT/proc" "$ROOT/sys" "$ROOT/dev" "$ROOT/tmp" "$ROOT/etc"
mount -t proc -o nosuid,nodev,noexec proc "$ROOT/proc"
mount -t sysfs -o nosuid,nodev,noexec sysfs "$ROOT/sys" || echo "kumo: no /sys"
# the flavor's vCPUs only (kumo.agent.virt.cpuview), as lxcfs does for containers
if [ -f "$DIR/cpuinfo" ]; then
  mount --bind "$DIR/cpuinfo" "$ROOT/proc/cpuinfo" || echo "kumo: no cpuinfo view"
fi
if [ -f "$DIR/cpu-online" ] && [ -f "$ROOT/sys/devices/system/cpu/online" ]; then
  mount --bind "$DIR/cpu-online" "$ROOT/sys/devices/system/cpu/online" || true
fi
mount -t tmpfs -o nosuid,mode=0755,size=1024k dev "$ROOT/dev"
for n in null zero full random urandom tty; do
  [ -e "/dev/$n" ] || continue
  : > "$ROOT/dev/$n"
  mount --bind "/dev/$n" "$ROOT/dev/$n"
done
: > "$ROOT/dev/console"
mount --bind "$DIR/console.log" "$ROOT/dev/console"
if [ -f "$DIR/devices" ]; then
  while read n major minor label; do
    mknod -m 660 "$ROOT/dev/$n" b "$major" "$minor" || echo "kumo: no /dev/$n"
    if [ -n "$label" ]; then
      mkdir -p "$ROOT/dev/disk/by-label"
      ln -sfn "../../$n" "$ROOT/dev/disk/by-label/$label"
    fi
  done < "$DIR/devices"
fi
mount -t tmpfs -o nosuid,nodev,mode=1777 tmp "$ROOT/tmp"
hostname {hostname}
echo {hostname} > "$ROOT/etc/hostname"
cd "$ROOT"
exec chroot . /sbin/init
'''
