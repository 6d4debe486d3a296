#!/bin/busybox sh
# The board image's init (PID 1), in two stages.
# Stage 1 runs from the initramfs: runc cannot pivot_root out of the kernel's rootfs, so the
# files move to a tmpfs that becomes the root (what a real board's root filesystem is).
# Stage 2 mounts what a container host needs, loads the kernel modules, configures QEMU's
# user-mode network, mounts the data disk, starts wisp as a service (restarted if it exits)
# and serves the harness's commands on the console (etc/board-console.sh).
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

if [ ! -e /.switched ]; then
  mount -t proc proc /proc
  mount -t tmpfs -o mode=0755 root /newroot
  for entry in /*; do
    case "$entry" in
      /proc|/sys|/dev|/newroot) ;;
      *) cp -a "$entry" /newroot/ ;;
    esac
  done
  mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/newroot
  touch /newroot/.switched
  umount /proc
  exec switch_root /newroot /init
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /sys/fs/cgroup
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t tmpfs -o mode=0755 run /run
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
hostname @BOARD@

depmod
while read -r module; do
  modprobe "$module" || echo "@@MODULE-FAILED $module"
done < /etc/wisp-modules

ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2

for _ in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.5; done
mount -t ext4 -o noatime /dev/vda /var/lib/wisp || echo "@@DISK-FAILED"
echo "@@BOOTED $(cut -d' ' -f1 /proc/uptime)"

(
  while true; do
    echo "@@WISP-START $(cut -d' ' -f1 /proc/uptime)"
    /usr/bin/wisp run --config /etc/wisp/config.yaml 2>&1 | while read -r line; do
      echo "$line"
      case "$line" in
        "wisp ready"*) echo "@@READY $(cut -d' ' -f1 /proc/uptime)" ;;
      esac
    done
    echo "@@WISP-EXITED"
    sleep 1
  done
) &

exec /bin/sh /etc/board-console.sh
