#!/usr/bin/env bash
# Benchmark: pictures drawn from stored envelopes, never from audio.
#  1. `plot` of a 2-hour visit (target: under 0.5 s);
#  2. `report` of an archive of N recordings (default 10 000, as bench/scale.sh makes them;
#     target: under 10 s), with its full verify and with `--fast`.
# The recordings are normalized first (untimed): that is what stores their envelopes.
# Usage: bench/pictures.sh [N] [WORKDIR]   (needs python3 and sox)
set -euo pipefail
n=${1:-10000}
work=${2:-$(mktemp -d)}
. "$(dirname "$0")/lib.sh"
t() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
start = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
wall = time.monotonic() - start
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:8.3f} s   (cpu: user {r.ru_utime:.2f} s, sys {r.ru_stime:.2f} s)")
PY
}
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.3f}')" "$1" "$2"; }
secs() { t "$@" | awk '{print $1}'; }

# 1. A 2-hour visit: pink noise swelling and fading (speech-like pauses), 16 kHz mono.
rm -rf "$work/long" && mkdir -p "$work/long"
echo "making a 2-hour visit in $work/long (sox), ingesting and normalizing it" >&2
sox -n -r 16000 -c 1 -b 16 "$work/long/visit.wav" synth 7200 pinknoise tremolo 0.15 90
"$bin" -q init "$work/long/archive" --org bench
"$bin" -q ingest "$work/long/archive" "$work/long/visit.wav" --normalize --segment
id=$("$bin" list "$work/long/archive" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
"$bin" -q tag "$work/long/archive" "$id" --mark "12:00=consent discussed" --mark "1:30:00=plan"
"$bin" plot "$work/long/archive" "$id" -o "$work/long/visit.svg" >/dev/null
plot=$(secs "$bin" plot "$work/long/archive" "$id" -o "$work/long/visit.svg")
printf 'plot of a 2-hour visit:        %8.3f s   target 0.5 s   ratio %s\n' "$plot" "$(ratio "$plot" 0.5)"

# 2. N small recordings, as bench/scale.sh makes them.
if [ ! -d "$work/scale/archive" ]; then
  mkdir -p "$work/scale/inbox"
  echo "making $n small WAV files, ingesting and normalizing them (untimed)" >&2
  python3 - "$work/scale/inbox" "$n" <<'PY'
import os, struct, sys
out, n = sys.argv[1], int(sys.argv[2])
frames = 1600  # 0.2 s at 8 kHz
for i in range(n):
    data = struct.pack("<Q", i) + os.urandom(frames * 2 - 8)
    with open(os.path.join(out, f"rec{i:05d}.wav"), "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt ")
        f.write(struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16))
        f.write(b"data" + struct.pack("<I", len(data)) + data)
PY
  "$bin" -q init "$work/scale/archive" --org bench
  "$bin" -q ingest "$work/scale/archive" "$work/scale/inbox" --normalize \
    --participant P001 --consent-scope research --consent-by study:S1
fi
envelopes=$(grep -c '/envelope.json$' "$work/scale/archive/manifest-sha256.txt")
echo "recordings with an envelope: $envelopes" >&2
full=$(secs "$bin" report "$work/scale/archive" -o "$work/scale/report.html")
fast=$(secs "$bin" report "$work/scale/archive" -o "$work/scale/report.html" --fast)
printf 'report of %s recordings:     %8.3f s   target 10 s    ratio %s\n' "$n" "$full" "$(ratio "$full" 10)"
printf 'report --fast (verify --fast): %8.3f s   target 10 s    ratio %s\n' "$fast" "$(ratio "$fast" 10)"
printf 'report size:                   %s bytes\n' "$(stat -c %s "$work/scale/report.html")"
