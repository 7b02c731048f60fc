#!/bin/sh
# Installs what `make cross` needs and is missing: qemu-user-static and binutils (readelf)
# from Debian, ziglang (a cross C toolchain with musl) from PyPI into the project's venv.
# Usage: VENV=.venv sh boards/install-toolchain.sh      (CI calls it; safe to re-run)
set -eu

VENV=${VENV:-.venv}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

missing=""
for tool in qemu-mips-static qemu-mipsel-static qemu-arm-static qemu-aarch64-static; do
    command -v "$tool" >/dev/null 2>&1 || { missing="$missing qemu-user-static"; break; }
done
command -v readelf >/dev/null 2>&1 || missing="$missing binutils"

if [ -n "$missing" ]; then
    echo "install-toolchain: apt-get install$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "install-toolchain: no venv at $VENV (set VENV=...)" >&2
    exit 1
fi
if ! "$VENV/bin/python" -c 'import ziglang' 2>/dev/null; then
    echo "install-toolchain: pip install ziglang into $VENV"
    "$VENV/bin/python" -m pip install -q ziglang
fi
"$VENV/bin/python" -m ziglang version | sed 's/^/install-toolchain: zig /'
