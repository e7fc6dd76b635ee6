#!/usr/bin/env bash
# Benchmark: an archive of N recordings (default 10 000 small generated WAVs): how long the
# first ingest takes, then `list`, `verify --fast`, `verify`, ingesting ONE more file
# (target: under 1 s — ingest must not rewrite or rehash the whole archive), purging it,
# then re-ingesting the whole inbox (every file already present: must stay linear).
# Usage: bench/scale.sh [N] [WORKDIR]   (needs python3)
set -euo pipefail
n=${1:-10000}
work=${2:-$(mktemp -d)}
. "$(dirname "$0")/lib.sh"

mkdir -p "$work/inbox"
echo "making $n small WAV files in $work/inbox" >&2
python3 - "$work/inbox" "$n" <<'PY'
import os, struct, sys
out, n = sys.argv[1], int(sys.argv[2])
frames = 1600  # 0.2 s at 8 kHz
for i in range(n + 1):
    data = struct.pack("<Q", i) + os.urandom(frames * 2 - 8)
    name = "one-more.wav" if i == n else f"rec{i:05d}.wav"
    with open(os.path.join(out, name), "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt ")
        f.write(struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16))
        f.write(b"data" + struct.pack("<I", len(data)) + data)
PY
mkdir -p "$work/extra" && mv "$work/inbox/one-more.wav" "$work/extra/"

rm -rf "$work/archive"
"$bin" -q init "$work/archive" --org bench
# Wall time, and the CPU time (user + system) the command used: on a shared or slow disk
# the wall time is mostly waiting for fsync, while the CPU time shows how the work scales.
t() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
start = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
wall = time.monotonic() - start
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:8.2f} s   (cpu: user {r.ru_utime:.2f} s, sys {r.ru_stime:.2f} s)")
PY
}
printf 'ingest %s files:      ' "$n";  t "$bin" -q ingest "$work/archive" "$work/inbox"
printf 'list:                   ';       t "$bin" list "$work/archive"
printf 'verify --fast:          ';       t "$bin" -q verify "$work/archive" --fast
printf 'verify (full):          ';       t "$bin" -q verify "$work/archive"
printf 'ingest one more file:   ';       t "$bin" -q ingest "$work/archive" "$work/extra/one-more.wav"
printf 're-ingest all (known):  ';       t "$bin" -q ingest "$work/archive" "$work/inbox"
one=$(sha256sum "$work/extra/one-more.wav" | cut -c1-16)
printf 'purge one recording:    ';       t "$bin" -q purge "$work/archive" "$one" --reason request --force
printf 'recordings now:         %s\n' "$(grep -c '/recording.json$' "$work/archive/manifest-sha256.txt")"
