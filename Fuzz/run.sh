#!/usr/bin/env bash
# Builds the libFuzzer target FuzzSegment (ASan + libFuzzer) and fuzzes for SECONDS (default 60).
#
#   Fuzz/run.sh [SECONDS] [libFuzzer options…]      e.g. Fuzz/run.sh 1200 -runs=1000000
#
# How the build works: `swiftc -sanitize=fuzzer,address` instruments every module and links
# libFuzzer; `-parse-as-library` because the target has no top-level code. SwiftPM links an
# executable target with `main` renamed to `FuzzSegment_main`, so the target defines that
# symbol and hands over to `LLVMFuzzerRunDriver`. The package is separate from the library's
# (`Fuzz/Package.swift`) so these flags never reach a normal build.
#
# Options: leak detection is off (the Swift runtime's metadata caches are never freed, which
# LeakSanitizer would report for every input); the Swift backtracer is off so that a runtime trap
# reaches libFuzzer's crash handler directly. New coverage goes to a scratch directory; crashes
# and hangs (-timeout=10 s per input) are written to Fuzz/findings/ and make this script fail.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --product FuzzSegment
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/new"
mkdir -p findings
FUZZ_SHM_DIRECTORY="$work/shm" ASAN_OPTIONS=detect_leaks=0 SWIFT_BACKTRACE=enable=no .build/release/FuzzSegment \
  -max_len=13000 -timeout=10 -rss_limit_mb=4096 -max_total_time="$seconds" -print_final_stats=1 \
  -artifact_prefix=findings/ "$@" "$work/new" corpus
