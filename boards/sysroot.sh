#!/bin/sh
# A target-Python sysroot from Debian bookworm, for running sems_lite under qemu-user.
#   sh boards/sysroot.sh <debian-arch>        armhf | arm64 | mipsel (amd64 works too)
# Result: build/sysroot-<arch>/ holding python3.11 (same minor as OpenWRT 24.10) with
# python3-cffi, python3-cffi-backend, python3-yaml and every library they need, plus the
# Python headers (libpython3.11-dev) that boards/crossenv-wheel.sh compiles against.
# Run it as: qemu-arm-static -L build/sysroot-armhf build/sysroot-armhf/usr/bin/python3.11
#
# The system's dpkg and apt state are never touched: apt runs with a private configuration
# (its own state, cache and sources list, APT::Architecture=<arch>) under build/apt-<arch>/,
# downloads the dependency closure, and `dpkg -x` unpacks each .deb (no maintainer scripts,
# no dpkg database). A stamp makes a re-run with the same package list a no-op.
# Env: SYSROOT_MIRROR (default http://deb.debian.org/debian), SYSROOT_FORCE=1 to rebuild.
set -eu

ARCH=${1:?usage: boards/sysroot.sh <debian-arch: armhf|arm64|mipsel>}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
OUT=$ROOT/build/sysroot-$ARCH
APTDIR=$ROOT/build/apt-$ARCH
MIRROR=${SYSROOT_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
PACKAGES="python3.11 libpython3.11-stdlib python3-cffi python3-cffi-backend python3-yaml
libpython3.11-dev"

case $ARCH in
    armhf) QEMU=qemu-arm-static ;;
    arm64) QEMU=qemu-aarch64-static ;;
    mipsel) QEMU=qemu-mipsel-static ;;
    amd64) QEMU=qemu-x86_64-static ;;
    *) echo "sysroot: unsupported arch '$ARCH' (armhf, arm64, mipsel, amd64)" >&2; exit 2 ;;
esac
for tool in apt-get dpkg-deb "$QEMU"; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "sysroot: $tool not found (boards/install-toolchain.sh installs qemu)" >&2; exit 1; }
done

STAMP=$OUT/.sysroot-stamp
WANT="$SUITE $ARCH $(echo $PACKAGES)"
if [ "${SYSROOT_FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
    echo "sysroot: $OUT is up to date"
    exit 0
fi

mkdir -p "$APTDIR/state/lists/partial" "$APTDIR/cache/archives/partial" \
    "$APTDIR/etc/apt.conf.d" "$APTDIR/etc/preferences.d" "$APTDIR/etc/trusted.gpg.d" \
    "$APTDIR/dpkg"
: > "$APTDIR/dpkg/status" # an empty status: nothing is installed, so the closure is complete
echo "deb [arch=$ARCH signed-by=$KEYRING] $MIRROR $SUITE main" > "$APTDIR/etc/sources.list"
cat > "$APTDIR/apt.conf" <<EOF
Dir::Etc "$APTDIR/etc";
Dir::Etc::SourceList "$APTDIR/etc/sources.list";
Dir::Etc::SourceParts "$APTDIR/etc/sources.list.d";
Dir::Etc::Parts "$APTDIR/etc/apt.conf.d";
Dir::Etc::PreferencesParts "$APTDIR/etc/preferences.d";
Dir::Etc::TrustedParts "$APTDIR/etc/trusted.gpg.d";
Dir::State "$APTDIR/state";
Dir::State::status "$APTDIR/dpkg/status";
Dir::Cache "$APTDIR/cache";
APT::Architecture "$ARCH";
APT::Architectures { "$ARCH"; };
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
export APT_CONFIG="$APTDIR/apt.conf"

echo "sysroot: apt-get update ($ARCH, $SUITE)"
apt-get -qq update
echo "sysroot: downloading $PACKAGES and their dependencies"
apt-get -qq -y --download-only install $PACKAGES >/dev/null

# unpack into a fresh directory, then swap it in: an interrupted run leaves no half sysroot
rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp"
n=0
for deb in "$APTDIR"/cache/archives/*.deb; do
    dpkg-deb -x "$deb" "$OUT.tmp"
    n=$((n + 1))
done
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
echo "sysroot: unpacked $n packages into $OUT"

# the target Python must start and find its C modules
"$QEMU" -L "$OUT" "$OUT/usr/bin/python3.11" -c \
    'import yaml, _cffi_backend, cffi, sys; print("sysroot: python", sys.version.split()[0], "yaml", yaml.__version__, "cffi", cffi.__version__)'
echo "$WANT" > "$STAMP"
