#!/usr/bin/env bash
# Install kpy (editable) and its Python dependencies. With --test, also the
# test dependencies and the Debian tools the suite checks against: QEMU (the
# second machine every image must boot on), gdb, binutils, ld.lld and PyPy
# (the second engine the VM runs on: --engine pypy), GRUB's PC tools and
# SeaBIOS (the firmware the VM and QEMU both boot with --firmware seabios).
set -euo pipefail
cd "$(dirname "$0")/.."

quiet() { "$@" >/tmp/kpy-setup.log 2>&1 || { cat /tmp/kpy-setup.log; exit 1; }; }

if [ "${1:-}" = "--test" ]; then
    quiet python3 -m pip install --disable-pip-version-check -e '.[test]'
    need=""
    command -v qemu-system-i386 >/dev/null || need="$need qemu-system-x86"
    command -v gdb >/dev/null || need="$need gdb"
    command -v objdump >/dev/null || need="$need binutils"
    command -v ld.lld >/dev/null || need="$need lld"
    command -v pypy3 >/dev/null || need="$need pypy3"
    command -v grub-mkimage >/dev/null || need="$need grub-pc-bin"
    [ -f /usr/share/seabios/bios.bin ] || need="$need seabios"
    if [ -n "$need" ]; then
        if [ "$(id -u)" = 0 ]; then
            echo "setup: apt-get install$need" >&2
            quiet apt-get update
            DEBIAN_FRONTEND=noninteractive quiet apt-get install -y --no-install-recommends $need
        else
            echo "setup: not root; install these Debian packages yourself:$need" >&2
        fi
    fi
else
    quiet python3 -m pip install --disable-pip-version-check -e .
fi
