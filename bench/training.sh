#!/usr/bin/env bash
# recsys alone: steady epoch, examples/s, evaluate on 20k rows (cargo bench), then the whole
# `recsys tutorial` wall time and peak RSS (/usr/bin/time -v, REPS runs).
# Usage: bench/training.sh [REPS]   (needs RECSYS_DATA_DIR, default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
export RECSYS_DATA_DIR=${RECSYS_DATA_DIR:-$PWD/../shared/data}
cargo build --release -q -p recsys-cli
recsys=${CARGO_TARGET_DIR:-target}/release/recsys
cargo bench -q -p recsys --bench tutorial -- --runs 5 --epochs 6 --evals 200 | grep -v '^{'
out=$(mktemp -d)
walls=(); rss=()
for _ in $(seq "$reps"); do
  /usr/bin/time -v -o "$out/time" "$recsys" tutorial --out "$out/model" --json > /dev/null 2>&1
  walls+=("$(awk -F': ' '/Elapsed \(wall clock\)/ {split($2, t, ":"); print t[1] * 60 + t[2]}' "$out/time")")
  rss+=("$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$out/time")")
done
rm -rf "$out"
python3 - "${walls[*]}" "${rss[*]}" <<'PY'
import statistics, sys
w = [float(x) for x in sys.argv[1].split()]; r = [float(x) for x in sys.argv[2].split()]
print(f"  recsys tutorial: wall {statistics.median(w):.3f} s (min {min(w):.3f}, max {max(w):.3f}), "
      f"peak RSS {statistics.median(r):.1f} MiB (min {min(r):.1f}, max {max(r):.1f}), n={len(w)}")
PY
