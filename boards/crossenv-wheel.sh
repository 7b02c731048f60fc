#!/bin/sh
# A sems_lite wheel for a board with the cffi API-mode extension (sems_lite._native)
# cross-compiled: crossenv (PyPI) over the board's Debian sysroot Python, zig as CC.
#   sh boards/crossenv-wheel.sh <board>          e.g. ipq40xx-arm_cortex-a7
# Output: build/<board>/wheel/sems_lite-*.whl (and nothing else in that folder).
# `make -f boards/cross.mk BOARD=<board> cross-wheel` builds it and runs the qemu box test
# with it installed; `--version` must then say `native`.
#
# CROSSENV_LIBC=gnu (default): glibc target, so the wheel runs in the Debian sysroot here.
# CROSSENV_LIBC=musl: the board's own ZIG_TARGET/ZIG_CPU, for OpenWRT's musl Python; such a
#   wheel cannot be run here (no musl Python for the targets) and is not tested.
# Env: VENV (default .venv, must have ziglang), CROSSENV_VERSION (default 1.6.2).
set -eu

BOARD=${1:?usage: boards/crossenv-wheel.sh <board>}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
VENV=${VENV:-.venv}
case $VENV in /*) ;; *) VENV=$ROOT/$VENV ;; esac
PY=$VENV/bin/python
LIBC=${CROSSENV_LIBC:-gnu}
get() { "$PY" "$HERE/board.py" get "$BOARD" "$1" 2>/dev/null || true; }

ARCH=$(get DEBIAN_ARCH)
[ -n "$ARCH" ] || {
    echo "crossenv-wheel: $BOARD has no DEBIAN_ARCH: no target Python to build against" >&2
    exit 2
}
# Debian multiarch triplet (where pyconfig.h lives), uname -m for the wheel tag, and the
# zig target of a glibc build that loads in Debian's Python
case $ARCH in
    armhf) TRIPLET=arm-linux-gnueabihf MACHINE=armv7l GNU_TARGET=arm-linux-gnueabihf ;;
    arm64) TRIPLET=aarch64-linux-gnu MACHINE=aarch64 GNU_TARGET=aarch64-linux-gnu ;;
    mipsel) TRIPLET=mipsel-linux-gnu MACHINE=mips GNU_TARGET=mipsel-linux-gnueabihf ;;
    *) echo "crossenv-wheel: arch $ARCH not supported (armhf, arm64, mipsel)" >&2; exit 2 ;;
esac
if [ "$LIBC" = musl ]; then
    TARGET=$(get ZIG_TARGET) CPU=$(get ZIG_CPU)
elif [ -n "$(get SYSROOT_ZIG_TARGET)" ]; then
    TARGET=$GNU_TARGET CPU=$(get SYSROOT_ZIG_CPU) # the board's float ABI is not Debian's
else
    TARGET=$GNU_TARGET CPU=$(get ZIG_CPU)
fi

sh "$HERE/sysroot.sh" "$ARCH"
SYSROOT=$ROOT/build/sysroot-$ARCH
WORK=$ROOT/build/crossenv-$BOARD
TOOL=$ROOT/build/crossenv-tool
OUT=$ROOT/build/$BOARD/wheel
mkdir -p "$WORK"

# crossenv itself lives in a venv of its own (a build tool, not a project dependency)
if [ ! -x "$TOOL/bin/python" ] || ! "$TOOL/bin/python" -c 'import crossenv' 2>/dev/null; then
    "$PY" -m venv "$TOOL"
    "$TOOL/bin/pip" install -q "crossenv==${CROSSENV_VERSION:-1.6.2}"
fi

# Python.h's pyconfig.h includes <TRIPLET/python3.11/pyconfig.h>: expose that one file,
# not the sysroot's whole /usr/include, whose glibc headers would clash with zig's
mkdir -p "$WORK/pyconfig/$TRIPLET/python3.11"
cp "$SYSROOT/usr/include/$TRIPLET/python3.11/pyconfig.h" "$WORK/pyconfig/$TRIPLET/python3.11/"

# The compiler crossenv hands to setuptools: zig for the target. crossenv sets CPATH to the
# sysroot's headers (dropped here), and Debian's LDSHARED has a flag zig's linker lacks.
cat > "$WORK/zigcc" <<EOF
#!/bin/sh
unset CPATH LIBRARY_PATH
export ZIG_GLOBAL_CACHE_DIR="$ROOT/build/zig-cache" ZIG_LOCAL_CACHE_DIR="$ROOT/build/zig-cache"
strip=""
for a in "\$@"; do
    shift
    case \$a in
        -Wl,-Bsymbolic-functions) ;;
        -shared) strip=-s; set -- "\$@" "\$a" ;;
        *) set -- "\$@" "\$a" ;;
    esac
done
exec "$PY" -m ziglang cc -target $TARGET ${CPU:+-mcpu=$CPU} -isystem "$WORK/pyconfig" \$strip "\$@"
EOF
chmod +x "$WORK/zigcc"

# the cross venv: rebuilt when the compiler wrapper changed, else reused
if [ ! -x "$WORK/venv/bin/cross-pip" ] || ! cmp -s "$WORK/zigcc" "$WORK/venv/.zigcc"; then
    "$TOOL/bin/python" -m crossenv --clear-both "$SYSROOT/usr/bin/python3.11" "$WORK/venv" \
        --cc "$WORK/zigcc" --sysroot "$SYSROOT" --machine "$MACHINE" \
        --sysconfigdata-file "$SYSROOT/usr/lib/python3.11/_sysconfigdata__$TRIPLET.py" \
        >"$WORK/crossenv.log" 2>&1 || { cat "$WORK/crossenv.log" >&2; exit 1; }
    # cffi runs at build time on the build (host) Python: it belongs in build-pip
    "$WORK/venv/bin/build-pip" install -q cffi setuptools wheel
    cp "$WORK/zigcc" "$WORK/venv/.zigcc"
fi

# build from a clean copy of the sources: no host extension, no stale build/ of the host
rm -rf "$WORK/src"
mkdir -p "$WORK/src"
cp -r "$ROOT/setup.py" "$ROOT/pyproject.toml" "$ROOT/README.md" "$ROOT/apps" "$WORK/src/"
mkdir -p "$WORK/src/native"
cp "$ROOT"/native/*.c "$ROOT"/native/*.h "$ROOT/native/build_kernels.py" "$WORK/src/native/"
"$PY" - "$ROOT/sems_lite" "$WORK/src/sems_lite" <<'EOF'
import shutil, sys
shutil.copytree(sys.argv[1], sys.argv[2], ignore=shutil.ignore_patterns("__pycache__", "*.so"))
EOF

rm -rf "$OUT"
mkdir -p "$OUT"
echo "crossenv-wheel: $BOARD: cross-pip wheel (zig cc -target $TARGET${CPU:+ -mcpu=$CPU})"
(cd "$WORK/src" && "$WORK/venv/bin/cross-pip" wheel --no-build-isolation --no-deps \
    -w "$OUT" . -v >"$WORK/wheel.log" 2>&1) || { tail -40 "$WORK/wheel.log" >&2; exit 1; }

# setup.py turns a failed compile into a warning: a wheel without the extension is a failure
wheel=$(ls "$OUT"/*.whl)
ext=$("$PY" - "$wheel" <<'EOF'
import sys, zipfile
names = [n for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.startswith("sems_lite/_native")]
print(names[0] if names else "")
EOF
)
if [ -z "$ext" ]; then
    grep -E "error|WARNING: sems-lite" "$WORK/wheel.log" >&2 || true
    echo "crossenv-wheel: $wheel has no compiled extension" >&2
    exit 1
fi
"$PY" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' \
    "$wheel" "$ext" "$WORK/check"
echo "crossenv-wheel: $(basename "$wheel"): $ext $(wc -c <"$WORK/check/$ext") bytes," \
    "$(readelf -h "$WORK/check/$ext" | sed -n 's/^ *Machine: *//p')"
