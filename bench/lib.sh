# Shared by the benchmarks: build the release binary and make test payloads.
# shellcheck shell=bash
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin="$here/target/release/visitrec"

now() { date +%s.%N; }

# make_wav_inbox DIR GB FILES: FILES distinct 48 kHz mono WAVs of random samples, GB in all.
make_wav_inbox() {
  local dir=$1 gb=$2 files=$3
  mkdir -p "$dir"
  echo "making $files WAV files, $gb GB in all, in $dir" >&2
  python3 - "$dir" "$files" "$(( gb * 1000 * 1000 * 1000 / files ))" <<'PY'
import os, struct, sys
out, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
size -= size % 2
chunk = os.urandom(1 << 24)
for i in range(n):
    with open(os.path.join(out, f"rec{i:03d}.wav"), "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt ")
        f.write(struct.pack("<IHHIIHH", 16, 1, 1, 48000, 96000, 2, 16))
        f.write(b"data" + struct.pack("<I", size))
        f.write(struct.pack("<Q", i))  # distinct content per file
        left = size - 8
        while left > 0:
            k = min(left, len(chunk))
            f.write(chunk[:k])
            left -= k
PY
}
