#!/usr/bin/env bash
# The rows of docs/experiments.md: each preset on TFRS's split, five seeds, test RMSE and the
# training command's wall time. Usage: bench/experiments.sh [PRESET...] (default: all three).
# Needs a release build (cargo build --release) and ../shared/peers/split/{train,test}.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
P=${PEERS:-../shared/peers}/split
BIN=target/release/recsys
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(tutorial mf-sgd best)
for preset in "${presets[@]}"; do
  for seed in 1 2 3 4 5; do
    start=$(date +%s.%N)
    rmse=$("$BIN" train --preset "$preset" --seed "$seed" --train "$P/train.tsv" --test "$P/test.tsv" \
      --out "$OUT/$preset-$seed" --json 2>/dev/null | python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["test"]["root_mean_squared_error"])')
    end=$(date +%s.%N)
    printf '%s\tseed %s\ttest_rmse %s\tseconds %.1f\n' "$preset" "$seed" "$rmse" "$(echo "$end - $start" | bc)"
  done
done
