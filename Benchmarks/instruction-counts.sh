#!/usr/bin/env bash
# Instructions per operation of the single-thread loops in Sources/InstructionCounts, counted
# by callgrind (deterministic: no machine noise). Each loop runs with 1 000 and 101 000
# operations; the difference over the 100 000 extra ones is the figure.
# Usage: Benchmarks/instruction-counts.sh [LOOP ...]   (default: every loop)
set -euo pipefail
cd "$(dirname "$0")"
command -v valgrind > /dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
swift build -c release --product InstructionCounts > /dev/null
binary=$(mktemp)
trap 'rm -f "$binary" "$binary".out' EXIT
# Swift's DWARF is more than valgrind's reader accepts: count on a copy without it.
objcopy --strip-debug "$(swift build -c release --show-bin-path)/InstructionCounts" "$binary"
loops=("$@")
[ ${#loops[@]} -eq 0 ] && loops=(c-ring-64 spsc-8 spsc-64 mpmc-8 service topic-64 c-mutex-64 mutex-buffer-64)
count() {
  valgrind --tool=callgrind --callgrind-out-file="$binary".out "$binary" "$1" "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for loop in "${loops[@]}"; do
  short=$(count "$loop" 1000)
  long=$(count "$loop" 101000)
  echo "$loop: $(( (long - short) / 100000 )) instructions per operation"
done
