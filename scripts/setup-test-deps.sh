#!/usr/bin/env bash
# Installs what the test suite uses beyond Java and Maven, on a fresh Debian 12 machine (as root):
#   - qemu-system-x86, so the qemu-tagged tests boot the test guest under QEMU too;
#   - the Debian kernel + busybox initramfs (scripts/fetch-linux.sh, make-initramfs.sh), so the
#     Linux loader's layout tests also run against the real bzImage.
# Each step is cached and bounded; a failure (no root, no mirror) is reported and the tests that
# need the missing piece skip with a printed reason, so the rest of the suite still runs.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

warn() { echo "setup-test-deps: $*" >&2; }

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup-test-deps: installing qemu-system-x86 (for the qemu-tagged tests)" >&2
    timeout 600 apt-get update -qq >&2 \
      && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq qemu-system-x86 >&2 \
      || warn "could not install qemu-system-x86: the qemu-tagged tests will skip"
  else
    warn "qemu-system-x86_64 missing and not root: the qemu-tagged tests will skip"
  fi
fi

# The migration benchmark's charts (BenchMigrationScriptTest) use Debian's python3-matplotlib.
if [ -x /usr/bin/python3 ] && ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq python3-matplotlib >&2 \
      || warn "could not install python3-matplotlib: the benchmark test will find no charts"
  fi
fi

if [ ! -f build/linux/vmlinuz ] || [ ! -f build/linux/vmlinux ] || [ ! -f build/linux/initramfs.cpio.gz ]; then
  { timeout 600 scripts/fetch-linux.sh && timeout 300 scripts/make-initramfs.sh; } >/dev/null \
    || warn "could not fetch the Debian kernel / build the initramfs: the real-kernel loader tests will skip"
fi
exit 0
