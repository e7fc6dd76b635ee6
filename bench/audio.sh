#!/usr/bin/env bash
# Benchmark: `visitrec ingest --normalize --segment` on a 60-minute AAC .m4a speech recording,
# against ffmpeg doing the equivalent two-pass work (measure EBU R128 loudness, then apply the
# gain while downmixing and resampling to a 16 kHz WAV), in the same run.
# Usage: bench/audio.sh [MINUTES] [WORKDIR]   (defaults: 60, a new temp folder; needs ffmpeg)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
minutes=${1:-60}
work=${2:-$(mktemp -d)}
mkdir -p "$work"
secs=$(( minutes * 60 ))

cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin="$here/target/release/visitrec"
src="$work/visit-${minutes}min.m4a"
if [ ! -f "$src" ]; then
  echo "making a ${minutes}-minute AAC recording from the speech fixture" >&2
  ffmpeg -v error -y -stream_loop -1 -i "$here/tests/fixtures/phone/dictation.wav" -t "$secs" \
    -ac 1 -ar 48000 -c:a aac -b:a 64k "$src"
fi

now() { date +%s.%N; }

rm -rf "$work/archive"
"$bin" -q init "$work/archive" --org bench
t0=$(now)
"$bin" -q ingest "$work/archive" "$src" --normalize --segment
t1=$(now)

t2=$(now)
loud=$(ffmpeg -hide_banner -nostats -i "$src" -ac 1 -ar 16000 -af ebur128=peak=true -f null - 2>&1 |
  awk '/Summary:/{s=1} s && $1=="I:"{print $2; exit}')
gain=$(python3 -c "print(-16 - ($loud))")
ffmpeg -v error -y -i "$src" -ac 1 -ar 16000 -af "volume=${gain}dB" -c:a pcm_s16le "$work/ffmpeg.wav"
t3=$(now)

python3 - "$secs" "$t0" "$t1" "$t2" "$t3" <<'PY'
import sys
secs = float(sys.argv[1])
t0, t1, t2, t3 = map(float, sys.argv[2:])
v, f = t1 - t0, t3 - t2
print(f"audio:                              {secs / 60:.0f} min AAC-LC 48 kHz mono")
print(f"visitrec ingest --normalize --segment: {v:6.2f} s  ({secs / v:7.0f}x realtime)")
print(f"ffmpeg ebur128 pass + gain pass:       {f:6.2f} s  ({secs / f:7.0f}x realtime)")
print(f"ratio:                              {f / v:.1f}x faster than ffmpeg (target >= 3x)")
PY
