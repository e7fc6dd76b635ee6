#!/usr/bin/env bash
# Benchmark: `visitrec encrypt` against the stock `age -r` on the same ~2 GB of archive
# payload, in the same run: all files (visitrec encrypts files in parallel; the age loop runs
# one file at a time, as a person or script would), and one file alone (per-file speed).
# Usage: bench/crypto.sh [GB] [WORKDIR]   (defaults: 2, a new temp folder; needs python3, age)
set -euo pipefail
gb=${1:-2}
work=${2:-$(mktemp -d)}
files=40
command -v age >/dev/null || { echo "bench/crypto.sh needs age (apt-get install -y age)" >&2; exit 2; }

. "$(dirname "$0")/lib.sh"
make_wav_inbox "$work/inbox" "$gb" "$files"

rm -rf "$work/archive" "$work/export" "$work/one" "$work/age-out"
"$bin" -q init "$work/archive" --org bench
"$bin" -q ingest "$work/archive" "$work/inbox" --consent-scope research --consent-by study:bench
age-keygen -o "$work/key.txt" 2>/dev/null
pub=$(age-keygen -y "$work/key.txt")
originals=("$work"/archive/data/*/original.wav)
payload=$(cat "${originals[@]}" | wc -c)
cat "${originals[@]}" > /dev/null  # warm the page cache for both

t0=$(now)
"$bin" -q encrypt "$work/archive" --all -r "$pub" --purpose research --include original --out "$work/export"
t1=$(now)
mkdir -p "$work/age-out"
t2=$(now)
for f in "${originals[@]}"; do
  age -r "$pub" -o "$work/age-out/$(basename "$(dirname "$f")").age" "$f"
done
t3=$(now)

one="${originals[0]}"
id=$(basename "$(dirname "$one")")
t4=$(now)
"$bin" -q encrypt "$work/archive" "$id" -r "$pub" --purpose research --include original --out "$work/one"
t5=$(now)
age -r "$pub" -o "$work/one.age" "$one"
t6=$(now)

python3 - "$payload" "$(wc -c < "$one")" "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$t6" <<'PY'
import sys
b, b1 = int(sys.argv[1]), int(sys.argv[2])
t0, t1, t2, t3, t4, t5, t6 = map(float, sys.argv[3:])
v, a, v1, a1 = t1 - t0, t3 - t2, t5 - t4, t6 - t5
print(f"payload:                {b / 1e9:.2f} GB in {b // b1} files")
print(f"visitrec encrypt --all: {v:6.2f} s  ({b / v / 1e9:.2f} GB/s)")
print(f"age -r, file by file:   {a:6.2f} s  ({b / a / 1e9:.2f} GB/s)")
print(f"overall ratio:          {a / v:.2f}x (target >= 1.8x on 2 cores)")
print(f"one file ({b1 / 1e6:.0f} MB):       visitrec {v1:.2f} s, age {a1:.2f} s: {a1 / v1:.2f}x (target >= 1x)")
PY
