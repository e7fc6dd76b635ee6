#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 180), two at a time, with the limits the
# reliability issue sets: a crash, a hang over 2 s, or more than 512 MB is a finding.
# Needs cargo-fuzz (cargo install cargo-fuzz); RUSTC_BOOTSTRAP lets the stable toolchain
# build with the sanitizer flags cargo-fuzz passes. New corpus entries go to a scratch
# folder; the committed seeds in corpus/ stay small. Findings land in artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-180}
export RUSTC_BOOTSTRAP=1
# AddressSanitizer keeps freed memory in a 256 MB quarantine by default; with libFuzzer's own
# tables that alone passes 512 MB after a few hundred thousand runs of a target that
# allocates a lot (age_file did: 28 MB live, 236 MB quarantined, reported as an "OOM" on an
# empty input). A smaller quarantine keeps the RSS limit about the inputs.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=32}
run() {
  local t=$1 work
  work=$(mktemp -d)
  cargo fuzz run -O "$t" "$work" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=2 -rss_limit_mb=512 -malloc_limit_mb=512 -max_len=1048576 \
    > "logs/$t.log" 2>&1 || echo "$t: FINDING (see logs/$t.log)"
  grep -E "^Done|stat::number_of_executed_units" "logs/$t.log" | tail -1 | sed "s/^/$t: /"
}
mkdir -p logs
cargo fuzz build -O
targets=(manifest recording_json tags_and_marks recipients audio age_file)
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[$i]}" &
  if [ $((i + 1)) -lt ${#targets[@]} ]; then run "${targets[$((i + 1))]}" & fi
  wait
done
