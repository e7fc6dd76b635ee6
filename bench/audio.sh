#!/usr/bin/env bash
# Benchmark: `visitrec ingest --normalize --segment` (limiter on, the default) on a 60-minute
# AAC .m4a speech recording, against two ffmpeg baselines run on the same file:
#  - two-pass: an `ebur128` measuring pass, then a gain pass downmixing and resampling to a
#    16 kHz WAV (linear gain: held back by the true-peak ceiling on peaky speech);
#  - loudnorm two-pass: ffmpeg's loudness normalizer (the tool people use), measuring in the
#    first pass and normalizing with the measured values in the second.
# Then peak memory (/usr/bin/time -v) of visitrec on a 2-hour recording, and the loudness
# hit rate of visitrec and of loudnorm on the fixtures: how many outputs ffmpeg's own
# meter finds within ±0.5 LU of -16 LUFS with the true peak at or under -1.5 dBTP.
# Usage: bench/audio.sh [MINUTES] [WORKDIR]   (defaults: 60, a new temp folder; needs ffmpeg,
# python3 and GNU time at /usr/bin/time). Run it with `nice` on a shared machine.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
minutes=${1:-60}
work=${2:-$(mktemp -d)}
mkdir -p "$work"
secs=$((minutes * 60))
target=-16
ceiling=-1.5

cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin="$here/target/release/visitrec"

make_visit() { # MINUTES → path of an AAC recording that long
  local m=$1 out="$work/visit-${1}min.m4a"
  if [ ! -f "$out" ]; then
    echo "making a ${m}-minute AAC recording from the speech fixture" >&2
    ffmpeg -v error -y -stream_loop -1 -i "$here/tests/fixtures/phone/dictation.wav" \
      -t $((m * 60)) -ac 1 -ar 48000 -c:a aac -b:a 64k "$out"
  fi
  echo "$out"
}

long_visit() { # → path of a 120-minute AAC recording: the benchmark's one, repeated (no re-encoding)
  local out="$work/visit-120min.m4a"
  if [ ! -f "$out" ]; then
    ffmpeg -v error -y -stream_loop -1 -i "$src" -t 7200 -c copy "$out"
  fi
  echo "$out"
}

now() { date +%s.%N; }
since() { python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$1" "$(now)"; }
# Runs a command, adding its CPU seconds (user + system, from GNU time) to the file $1: on a
# shared machine the wall times swing with the load, the CPU times much less.
tcpu() {
  local log=$1 t
  shift
  t=$(mktemp)
  local rc=0
  /usr/bin/time -f "%U %S" -o "$t" "$@" || rc=$?
  awk '{print $1 + $2}' "$t" >>"$log"
  rm -f "$t"
  return $rc
}
cpu_s() { awk '{s += $1} END {printf "%.2f", s}' "$1"; }
# Peak resident MB from GNU time's report.
peak_mb() { awk -F': ' '/Maximum resident set size/{printf "%.1f", $2/1024}' "$1"; }

# ffmpeg's meter: "I TP" of a file.
ffmeter() {
  ffmpeg -nostdin -hide_banner -nostats -i "$1" -af ebur128=peak=true -f null - 2>&1 |
    awk '/Summary:/{s=1} s && $1=="I:"{i=$2} s && $1=="Peak:"{p=$2} END{print i, p}'
}

# loudnorm two-pass of $1 into the 16 kHz WAV $2 (CPU seconds added to the file $3).
loudnorm2() {
  local in=$1 out=$2 cpu=${3:-/dev/null} args="I=$target:TP=$ceiling:LRA=11"
  local m
  m=$(tcpu "$cpu" ffmpeg -nostdin -hide_banner -nostats -i "$in" -af "loudnorm=$args:print_format=json" -f null - 2>&1 |
    python3 -c 'import sys, json; t = sys.stdin.read(); d = json.loads(t[t.rindex("{"):])
print(":".join(f"{k}={d[v]}" for k, v in [("measured_I", "input_i"), ("measured_TP", "input_tp"),
  ("measured_LRA", "input_lra"), ("measured_thresh", "input_thresh"), ("offset", "target_offset")]))')
  tcpu "$cpu" ffmpeg -nostdin -v error -y -i "$in" -af "loudnorm=$args:$m:linear=true" \
    -ac 1 -ar 16000 -c:a pcm_s16le "$out"
}

src=$(make_visit "$minutes")

# visitrec, limiter on (the default).
rm -rf "$work/archive" "$work"/*.cpu
"$bin" -q init "$work/archive" --org bench
t=$(now)
/usr/bin/time -v -o "$work/visitrec.time" \
  "$bin" -q ingest "$work/archive" "$src" --normalize --segment
v=$(since "$t")
vmem=$(peak_mb "$work/visitrec.time")
vcpu=$(awk -F': ' '/(User|System) time/{s += $2} END {printf "%.2f", s}' "$work/visitrec.time")

# ffmpeg: ebur128 pass, then a gain pass.
t=$(now)
loud=$(tcpu "$work/ff.cpu" ffmpeg -nostdin -hide_banner -nostats -i "$src" -ac 1 -ar 16000 \
  -af ebur128=peak=true -f null - 2>&1 | awk '/Summary:/{s=1} s && $1=="I:"{print $2; exit}')
gain=$(python3 -c "print($target - ($loud))")
tcpu "$work/ff.cpu" ffmpeg -nostdin -v error -y -i "$src" -ac 1 -ar 16000 -af "volume=${gain}dB" \
  -c:a pcm_s16le "$work/ffmpeg.wav"
f=$(since "$t")
fcpu=$(cpu_s "$work/ff.cpu")

# ffmpeg: loudnorm two-pass.
t=$(now)
loudnorm2 "$src" "$work/loudnorm.wav" "$work/ln.cpu"
l=$(since "$t")
lcpu=$(cpu_s "$work/ln.cpu")

# Peak memory on a 2-hour recording.
long=$(long_visit)
rm -rf "$work/archive2"
"$bin" -q init "$work/archive2" --org bench
t=$(now)
/usr/bin/time -v -o "$work/long.time" \
  "$bin" -q ingest "$work/archive2" "$long" --normalize --segment
lwall=$(since "$t")
lmem=$(peak_mb "$work/long.time")

# Hit rates on the fixtures.
fixtures=$(find "$here/tests/fixtures/phone" "$here/tests/fixtures/formats" \
  "$here/tests/fixtures/tagged" "$here/tests/fixtures/gapless" -type f | sort)
rm -rf "$work/hits"
"$bin" -q init "$work/hits" --org bench
# (A fixture visitrec refuses counts as a miss: it has no normalized.wav.)
echo "$fixtures" | tr '\n' '\0' | xargs -0 "$bin" -q ingest "$work/hits" --normalize || true
n=0
rows=""
while IFS= read -r fx; do
  n=$((n + 1))
  ln_out="$work/ln-$n.wav"
  loudnorm2 "$fx" "$ln_out" 2>/dev/null || true
  read -r li lp < <(ffmeter "$ln_out")
  rows+="$(basename "$fx")|loudnorm|$li|$lp"$'\n'
done <<<"$fixtures"
for wav in "$work"/hits/data/*/normalized.wav; do
  read -r vi vp < <(ffmeter "$wav")
  rows+="$(basename "$(dirname "$wav")")|visitrec|$vi|$vp"$'\n'
done

python3 - "$secs" "$v" "$f" "$l" "$vmem" "$lmem" "$lwall" "$target" "$ceiling" \
  "$vcpu" "$fcpu" "$lcpu" <<PY
import sys
secs, v, f, l, vmem, lmem, lwall, target, ceiling, vc, fc, lc = map(float, sys.argv[1:])
rows = [r.split("|") for r in """$rows""".strip().splitlines()]
def hit(i, p):
    try:
        return abs(float(i) - target) <= 0.5 and float(p) <= ceiling
    except ValueError:
        return False
fixtures = sum(1 for r in rows if r[1] == "loudnorm")
for tool in ("visitrec", "loudnorm"):
    mine = [r for r in rows if r[1] == tool]
    misses = [f"{r[0]} ({r[2]} LUFS, {r[3]} dBTP)" for r in mine if not hit(r[2], r[3])]
    print(f"hit rate {tool:9} {len(mine) - len(misses):2}/{fixtures} fixtures within ±0.5 LU "
          f"of {target:.0f} LUFS, true peak <= {ceiling} dBTP by ffmpeg's meter")
    for m in misses[:20]:
        print(f"    missed: {m}")
print(f"audio:                                 {secs / 60:.0f} min AAC-LC 48 kHz mono")
print(f"                                       wall s (realtime)      CPU s (user+sys)")
print(f"visitrec ingest --normalize --segment: {v:7.2f} ({secs / v:5.0f}x)      {vc:7.2f}")
print(f"ffmpeg ebur128 pass + gain pass:       {f:7.2f} ({secs / f:5.0f}x)      {fc:7.2f}")
print(f"ffmpeg loudnorm two-pass:              {l:7.2f} ({secs / l:5.0f}x)      {lc:7.2f}")
print(f"ratio vs ffmpeg two-pass:              {f / v:.2f}x faster by wall time (target >= 3x), "
      f"{fc / vc:.2f}x by CPU time")
print(f"ratio vs loudnorm two-pass:            {l / v:.2f}x faster by wall time, {lc / vc:.2f}x by CPU time")
print(f"realtime factor of visitrec:           {secs / v:.0f}x (target >= 1000x)")
print(f"peak memory, {secs / 60:.0f} min:                    {vmem:.1f} MB")
print(f"peak memory, 120 min:                   {lmem:.1f} MB (target <= 64 MB; {lwall:.2f} s wall)")
PY
