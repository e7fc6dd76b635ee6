#!/usr/bin/env bash
# Benchmark: `visitrec verify` against `sha256sum -c` on the same ~2 GB archive, same run.
# Usage: bench/verify.sh [GB] [WORKDIR]   (defaults: 2, a new temp folder; needs python3)
# Prints both throughputs and their ratio. Both run on a warm page cache (each is run once
# before it is timed), so the figure compares hashing and parallelism, not the disk.
set -euo pipefail
gb=${1:-2}
work=${2:-$(mktemp -d)}
files=40

. "$(dirname "$0")/lib.sh"
make_wav_inbox "$work/inbox" "$gb" "$files"

rm -rf "$work/archive"
"$bin" -q init "$work/archive" --org "bench"
"$bin" -q ingest "$work/archive" "$work/inbox"
payload=$(du -sb "$work/archive/data" | cut -f1)

cd "$work/archive"
"$bin" -q verify . >/dev/null
t0=$(now); "$bin" -q verify . >/dev/null; t1=$(now)
sha256sum -c --quiet manifest-sha256.txt
t2=$(now); sha256sum -c --quiet manifest-sha256.txt; t3=$(now)

count=$(wc -l < manifest-sha256.txt)
python3 - "$payload" "$t0" "$t1" "$t2" "$t3" "$count" <<'PY'
import sys
b, n = int(sys.argv[1]), int(sys.argv[6])
t0, t1, t2, t3 = map(float, sys.argv[2:6])
v, s = t1 - t0, t3 - t2
print(f"payload:           {b / 1e9:.2f} GB in {n} files")
print(f"visitrec verify:   {v:.2f} s  ({b / v / 1e9:.2f} GB/s)")
print(f"sha256sum -c:      {s:.2f} s  ({b / s / 1e9:.2f} GB/s)")
print(f"ratio:             {s / v:.1f}x faster than sha256sum -c (target >= 3x)")
PY
