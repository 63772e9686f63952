#!/bin/sh
# /init of d3vm's Linux initramfs (busybox sh; scripts/make-initramfs.sh packs it).
# Prints the marker line `d3vm-linux: init ok`, then runs the workload named on the kernel command
# line -- the busybox equivalents of the test guest's workloads:
#   d3vm.workload=idle     a heartbeat line every second (default)
#   d3vm.workload=dirty    rewrites a working set of d3vm.mib MiB (default 64) in tmpfs with
#                          random data at d3vm.rate MiB/s (default 16), printing a progress counter
#   d3vm.workload=verify   fills d3vm.mib MiB (default 16) of tmpfs with data derived from
#                          d3vm.seed (default 1), then keeps regenerating it and comparing (cmp)
#   d3vm.workload=busy     writes d3vm.mib MiB (default 32) of text files and the busybox binary to
#                          tmpfs, then keeps copying them and reading the copies back: the page
#                          cache then holds the same content more than once (duplicate pages)
# d3vm.seconds=N ends the guest after N seconds: `poweroff -f` when the machine has ACPI (QEMU),
# `reboot -f` when it has none (d3vm: there Linux can only halt on power-off, while its reboot
# resets through the i8042, which ends the VMM); d3vm.exit=poweroff|reboot chooses by hand.
# Kernel parameters with a dot are not passed to init, so they are read from /proc/cmdline.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
# The Debian kernel has devtmpfs but does not mount it by itself (DEVTMPFS_MOUNT is off).
mount -t devtmpfs devtmpfs /dev 2>/dev/null || {
  mount -t tmpfs -o mode=0755 tmpfs /dev
  mknod -m 600 /dev/console c 5 1
  mknod -m 666 /dev/null c 1 3
  mknod -m 666 /dev/zero c 1 5
  mknod -m 444 /dev/urandom c 1 9
}
mkdir -p /work
mount -t tmpfs -o mode=0755 tmpfs /work

workload=idle seconds= mib= rate=16 seed=1 exitcmd=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    d3vm.workload=*) workload="${arg#*=}" ;;
    d3vm.seconds=*) seconds="${arg#*=}" ;;
    d3vm.mib=*) mib="${arg#*=}" ;;
    d3vm.rate=*) rate="${arg#*=}" ;;
    d3vm.seed=*) seed="${arg#*=}" ;;
    d3vm.exit=*) exitcmd="${arg#*=}" ;;
  esac
done

if [ -z "$exitcmd" ]; then
  if [ -d /sys/firmware/acpi ]; then exitcmd=poweroff; else exitcmd=reboot; fi
fi

echo "d3vm-linux: init ok ($(uname -r), $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo), workload=$workload)"

is_number() { case "$1" in ''|*[!0-9]*) return 1 ;; *) return 0 ;; esac; }

idle() {
  n=0
  while :; do
    n=$((n + 1))
    echo "d3vm-linux: idle $n"
    sleep 1
  done
}

dirty() {
  mib=${mib:-64}
  is_number "$mib" && is_number "$rate" && [ "$rate" -gt 0 ] || { echo "d3vm-linux: bad d3vm.mib/d3vm.rate"; return 1; }
  echo "d3vm-linux: dirty $mib MiB at $rate MiB/s"
  chunk=0 written=0 second=0
  while :; do
    i=0
    while [ "$i" -lt "$rate" ]; do
      dd if=/dev/urandom of=/work/c$chunk bs=64k count=16 conv=notrunc 2>/dev/null
      chunk=$(( (chunk + 1) % mib ))
      i=$((i + 1))
    done
    written=$((written + rate))
    second=$((second + 1))
    echo "d3vm-linux: dirty $second s, $written MiB written"
    sleep 1
  done
}

# One MiB of data that depends only on the seed and the chunk number.
verify_chunk() { yes "d3vm-verify seed=$seed chunk=$1 0123456789abcdef" | head -c 1048576; }

verify() {
  mib=${mib:-16}
  is_number "$mib" && [ "$mib" -gt 0 ] || { echo "d3vm-linux: bad d3vm.mib"; return 1; }
  i=0
  while [ "$i" -lt "$mib" ]; do
    verify_chunk $i > /work/v$i
    i=$((i + 1))
  done
  echo "d3vm-linux: verify filled $mib MiB, md5 $(cat $(i=0; while [ $i -lt $mib ]; do echo /work/v$i; i=$((i+1)); done) | md5sum | cut -d' ' -f1)"
  pass=0
  while :; do
    pass=$((pass + 1)) bad=0 i=0
    while [ "$i" -lt "$mib" ]; do
      if ! verify_chunk $i | cmp -s - /work/v$i; then
        echo "d3vm-linux: verify MISMATCH in chunk $i (pass $pass)"
        bad=$((bad + 1))
      fi
      i=$((i + 1))
    done
    [ "$bad" -eq 0 ] && echo "d3vm-linux: verify pass $pass ok"
    sleep 1
  done
}

busy() {
  mib=${mib:-32}
  is_number "$mib" || { echo "d3vm-linux: bad d3vm.mib"; return 1; }
  i=0
  while [ "$i" -lt "$mib" ]; do
    verify_chunk $i > /work/t$i
    i=$((i + 1))
  done
  cp /bin/busybox /work/bb
  echo "d3vm-linux: busy $mib MiB of files, copied and read back"
  pass=0
  while :; do
    pass=$((pass + 1))
    dir=/work/copy$((pass % 2))
    mkdir -p $dir
    cp /work/t* /work/bb $dir/
    echo "d3vm-linux: busy pass $pass $(cat $dir/* | md5sum | cut -d' ' -f1)"
    sleep 1
  done
}

case "$workload" in
  idle|dirty|verify|busy) "$workload" & ;;
  *) echo "d3vm-linux: unknown workload '$workload' (idle|dirty|verify|busy)" ;;
esac

if is_number "$seconds"; then
  sleep "$seconds"
  echo "d3vm-linux: $exitcmd after $seconds s"
  sync
  if [ "$exitcmd" = reboot ]; then reboot -f; else poweroff -f; fi
fi
wait
# init must never exit (the kernel panics); stay in a shell on the console if the workload ends.
exec sh
