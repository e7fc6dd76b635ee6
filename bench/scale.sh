#!/usr/bin/env bash
# Benchmark: an archive of N recordings (default 10 000 small generated WAVs). Prints how
# long the first ingest takes, then `list`, `verify --fast`, `verify` and re-ingesting the
# whole inbox (every file already present), each also per recording: these must stay flat
# as N grows (linear work). Then, best of 3 each, ingesting ONE more file and purging ONE
# recording from the middle of the archive (target: at most 0.1 s at 100 000 recordings: a
# commit patches the manifest and the audit log in place instead of rewriting them).
# Usage: bench/scale.sh [N] [WORKDIR]   (needs python3)
# A WORKDIR that holds the archive of an earlier run with the same N is reused as it is (the
# first ingest is then not timed again): building 100 000 recordings takes minutes.
set -euo pipefail
n=${1:-10000}
work=${2:-$(mktemp -d)}
. "$(dirname "$0")/lib.sh"

# Wall time, and the CPU time (user + system) the command used: on a shared or slow disk
# the wall time is mostly waiting for fsync, while the CPU time shows how the work scales.
# Prints "WALL USER SYS" in seconds.
t() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
start = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
wall = time.monotonic() - start
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:.3f} {r.ru_utime:.3f} {r.ru_stime:.3f}")
PY
}
# show LABEL "WALL USER SYS" [COUNT]: the figures, and the wall time per recording.
show() {
  read -r wall user sys <<<"$2"
  printf '%-24s %8.2f s   (cpu: user %.2f s, sys %.2f s)' "$1" "$wall" "$user" "$sys"
  if [ -n "${3:-}" ]; then
    printf '   %.3f ms per recording' "$(python3 -c "print($wall * 1000 / $3)")"
  fi
  printf '\n'
}
# best LABEL RUN: RUN three times (given the round number; it prints what `t` printed),
# showing the fastest.
best() {
  local label=$1 run=$2 all=() k
  for k in 1 2 3; do
    all+=("$("$run" "$k")")
  done
  show "$label" "$(printf '%s\n' "${all[@]}" | sort -n | head -1)"
}

if [ -f "$work/archive-$n.done" ] && [ -d "$work/archive" ]; then
  echo "reusing the archive of $n recordings in $work/archive" >&2
else
  rm -rf "$work/inbox" "$work/extra" "$work/archive"
  mkdir -p "$work/inbox" "$work/extra"
  echo "making $n small WAV files in $work/inbox" >&2
  python3 - "$work" "$n" <<'PY'
import os, struct, sys
work, n = sys.argv[1], int(sys.argv[2])
frames = 1600  # 0.2 s at 8 kHz
for i in range(n + 3):
    data = struct.pack("<Q", i) + os.urandom(frames * 2 - 8)
    if i < n:
        path = os.path.join(work, "inbox", f"rec{i:06d}.wav")
    else:
        path = os.path.join(work, "extra", f"one-more-{i - n + 1}.wav")
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt ")
        f.write(struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16))
        f.write(b"data" + struct.pack("<I", len(data)) + data)
PY
  "$bin" -q init "$work/archive" --org bench
  show "ingest $n files:" "$(t "$bin" -q ingest "$work/archive" "$work/inbox")" "$n"
  touch "$work/archive-$n.done"
fi
show "list:" "$(t "$bin" list "$work/archive")" "$n"
show "verify --fast:" "$(t "$bin" -q verify "$work/archive" --fast)" "$n"
show "verify (full):" "$(t "$bin" -q verify "$work/archive")" "$n"
show "re-ingest all (known):" "$(t "$bin" -q ingest "$work/archive" "$work/inbox")" "$n"

id_of() { sha256sum "$1" | cut -c1-16; }
extra() { echo "$work/extra/one-more-$1.wav"; }
# Adding one: each round ingests a new file (--allow-reingest: a reused archive has it purged
# by an earlier run), which is purged again (untimed) afterwards.
add_run() {
  t "$bin" -q ingest "$work/archive" "$(extra "$1")" --allow-reingest
  "$bin" -q purge "$work/archive" "$(id_of "$(extra "$1")")" --reason request --force >/dev/null
}
best "ingest one more file:" add_run
# Purging one: a recording from the middle of the archive (its manifest lines are not the
# last ones), ingested again (untimed) afterwards so the archive keeps its N recordings.
victim() { printf '%s/inbox/rec%06d.wav' "$work" $(( n * $1 / 4 )); }
purge_run() {
  t "$bin" -q purge "$work/archive" "$(id_of "$(victim "$1")")" --reason request --force
  "$bin" -q ingest "$work/archive" "$(victim "$1")" --allow-reingest >/dev/null
}
best "purge one recording:" purge_run
printf 'recordings now:          %s\n' \
  "$(grep -c '/recording.json$' "$work/archive/manifest-sha256.txt")"
