#!/usr/bin/env bash
# Benchmark: `visitrec encrypt` against the stock `age -r` on the same ~2 GB of archive
# payload, in the same run: all files (visitrec encrypts files in parallel; the age loop runs
# one file at a time, as a person or script would), and one file alone (per-file speed).
#
# visitrec fsyncs everything it writes (an export must survive a power cut); age does not.
# So each figure is printed twice: against plain `age`, and against `age` followed by
# `sync` of what it wrote (the same durability). By default the work folder is in RAM
# (/dev/shm) when it has room, so the figures compare the tools rather than the disk; pass a
# WORKDIR on a disk to include it. Each timing is the best of ROUNDS runs, alternating tools.
#
# Usage: bench/crypto.sh [GB] [WORKDIR] [ROUNDS]   (defaults: 2, a new temp folder, 3)
# Needs python3, age.
set -euo pipefail
gb=${1:-2}
rounds=${3:-3}
files=40
command -v age >/dev/null || { echo "bench/crypto.sh needs age (apt-get install -y age)" >&2; exit 2; }
if [ -n "${2:-}" ]; then
  work=$2
  mkdir -p "$work"
elif [ "$(df --output=avail -k /dev/shm 2>/dev/null | tail -1)" -gt $((gb * 3500000)) ] 2>/dev/null; then
  work=$(mktemp -d /dev/shm/visitrec-bench.XXXXXX)
  trap 'rm -rf "$work"' EXIT
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
echo "work folder: $work ($(df --output=fstype "$work" | tail -1))" >&2

. "$(dirname "$0")/lib.sh"
rm -rf "$work/inbox" "$work/archive" "$work/key.txt"
make_wav_inbox "$work/inbox" "$gb" "$files"
"$bin" -q init "$work/archive" --org bench
"$bin" -q ingest "$work/archive" "$work/inbox" --consent-scope research --consent-by study:bench
rm -rf "$work/inbox"
age-keygen -o "$work/key.txt" 2>/dev/null
pub=$(age-keygen -y "$work/key.txt")
originals=("$work"/archive/data/*/original.wav)
one="${originals[0]}"
id=$(basename "$(dirname "$one")")
payload=$(cat "${originals[@]}" | wc -c)

# time_of CMD...: seconds the command took (its output folder is cleared first by the caller).
time_of() {
  local t0 t1
  t0=$(now)
  "$@"
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}
visitrec_all() { "$bin" -q encrypt "$work/archive" --all -r "$pub" --purpose research --include original --out "$work/out"; }
visitrec_one() { "$bin" -q encrypt "$work/archive" "$id" -r "$pub" --purpose research --include original --out "$work/out"; }
age_all() {
  mkdir -p "$work/out"
  for f in "${originals[@]}"; do
    age -r "$pub" -o "$work/out/$(basename "$(dirname "$f")").age" "$f"
  done
  [ "${1:-}" != sync ] || sync -f "$work/out"/*.age
}
age_one() {
  mkdir -p "$work/out"
  age -r "$pub" -o "$work/out/one.age" "$one"
  [ "${1:-}" != sync ] || sync "$work/out/one.age"
}

declare -A best
record() {  # record NAME CMD...: keeps the best time of NAME
  rm -rf "$work/out"
  local t
  t=$(time_of "${@:2}")
  if [ -z "${best[$1]:-}" ] || awk -v a="$t" -v b="${best[$1]}" 'BEGIN { exit !(a < b) }'; then best[$1]=$t; fi
}
cat "${originals[@]}" > /dev/null  # warm the page cache for everyone
for ((r = 1; r <= rounds; r++)); do
  echo "round $r of $rounds" >&2
  record v_all visitrec_all
  record a_all age_all
  record a_all_sync age_all sync
  record v_one visitrec_one
  record a_one age_one
  record a_one_sync age_one sync
done
rm -rf "$work/out"

python3 - "$payload" "$(wc -c < "$one")" "${best[v_all]}" "${best[a_all]}" "${best[a_all_sync]}" \
  "${best[v_one]}" "${best[a_one]}" "${best[a_one_sync]}" <<'PY'
import sys
b, b1 = int(sys.argv[1]), int(sys.argv[2])
v, a, a_s, v1, a1, a1_s = map(float, sys.argv[3:])
print(f"payload:                  {b / 1e9:.2f} GB in {b // b1} files (best of the rounds)")
print(f"visitrec encrypt --all:   {v:6.2f} s  ({b / v / 1e9:.2f} GB/s, fsynced)")
print(f"age -r, file by file:     {a:6.2f} s  ({b / a / 1e9:.2f} GB/s)   ratio {a / v:.2f}x")
print(f"  the same, then sync:    {a_s:6.2f} s  ({b / a_s / 1e9:.2f} GB/s)   ratio {a_s / v:.2f}x")
print(f"  (target: >= 1.8x overall on 2 cores)")
print(f"one file ({b1 / 1e6:.0f} MB): visitrec {v1:.3f} s; age {a1:.3f} s, ratio {a1 / v1:.2f}x;"
      f" age then sync {a1_s:.3f} s, ratio {a1_s / v1:.2f}x (target >= 1x)")
PY
