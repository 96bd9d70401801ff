#!/usr/bin/env bash
# Fuzz segstats._native under AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   scripts/fuzz_native.sh [SECONDS] [OUT_DIR] [extra fuzz_native.py options]
#
# Builds the extension with -fsanitize=address,undefined from a copy of the
# tree in a temporary folder (the in-place build is left alone), then runs
# scripts/fuzz_native.py for SECONDS (default 600) with libasan preloaded
# (the python binary itself is not instrumented) and leak detection off
# (CPython keeps objects alive at exit by design). PYTHONMALLOC=malloc gives
# every Python object its own malloc block, so ASan sees reads past a buffer.
# A sanitizer report aborts the run; the batch being read is in
# OUT_DIR/pending.bin and is replayed item by item to name the crashing input
# (OUT_DIR/crash-*.hex, with the report in crash-*.log). Needs gcc or clang
# with the sanitizer runtimes, and zlib headers.
set -euo pipefail

SECONDS_TO_RUN=${1:-600}
OUT=${2:-fuzz-out}
shift $(( $# > 2 ? 2 : $# ))
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python}
CC=${CC:-gcc}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

BUILD=$(mktemp -d "${TMPDIR:-/tmp}/segstats-asan.XXXXXX")
trap 'rm -rf "$BUILD"' EXIT
mkdir -p "$BUILD/src"
cp -r "$ROOT/segstats" "$BUILD/src/segstats"
find "$BUILD/src/segstats" \( -name '_native*.so' -o -name '__pycache__' \) -prune -exec rm -rf {} +
# SANITIZE_EXTRA: more flags, e.g. -fno-sanitize=nonnull-attribute to fuzz on past a known report,
# or -DSEG_NO_SIMD for the portable word code that builds without SSE2 (ARM wheels).
SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g ${SANITIZE_EXTRA:-}"
if [ -f "$ROOT/setup.py" ]; then
    cp "$ROOT/setup.py" "$ROOT/pyproject.toml" "$BUILD/src/"
    [ -f "$ROOT/README.md" ] && cp "$ROOT/README.md" "$BUILD/src/"
    (cd "$BUILD/src" && CC="$CC" CFLAGS="$SANITIZE -O1" LDFLAGS="$SANITIZE" \
        "$PYTHON" setup.py -q build_ext --inplace --build-temp "$BUILD/tmp") >"$BUILD/build.log" 2>&1 \
        || { cat "$BUILD/build.log"; exit 2; }
else  # before setup.py existed: the same sources, compiled by hand
    INCLUDE=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    SUFFIX=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
    # shellcheck disable=SC2086
    "$CC" $SANITIZE -O1 -shared -fPIC -std=c99 -I"$INCLUDE" "$BUILD"/src/segstats/_native/*.c \
        -o "$BUILD/src/segstats/_native$SUFFIX" -lz -ldl
fi
ls "$BUILD"/src/segstats/_native*.so >/dev/null

LIBASAN=$("$CC" -print-file-name=libasan.so)
export LD_PRELOAD="$LIBASAN"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1:exitcode=86:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=87"
export PYTHONMALLOC=malloc
export PYTHONPATH="$BUILD/src${PYTHONPATH:+:$PYTHONPATH}"
# Run from the build folder: nothing in the working tree may shadow the sanitized build.
cd "$BUILD"
"$PYTHON" -c 'import segstats._native as n, sys; sys.stdout.write("sanitized build: %s\n" % n.__file__)'
status=0
"$PYTHON" "$ROOT/scripts/fuzz_native.py" --seconds "$SECONDS_TO_RUN" --out "$OUT" "$@" || status=$?
if [ "$status" -ne 0 ] && [ -f "$OUT/pending.bin" ]; then
    echo "fuzz_native.py stopped with status $status; replaying the last batch item by item" >&2
    "$PYTHON" "$ROOT/scripts/fuzz_native.py" --replay "$OUT/pending.bin" --out "$OUT" || true
fi
exit "$status"
