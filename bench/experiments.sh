#!/usr/bin/env bash
# The rows of docs/experiments.md: each preset on TFRS's split, five seeds, test RMSE and the
# training command's wall time. Usage: bench/experiments.sh [PRESET...] (default: all three;
# `features` also needs RECSYS_DATA_DIR holding ml-100k/ for its side information);
# `multitask` runs the multitask table instead: weights (1,0), (0,1), (1,1), each with test RMSE
# and top-100 accuracy.
# Needs a release build (cargo build --release) and ../shared/peers/split/{train,test}.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
P=${PEERS:-../shared/peers}/split
BIN=target/release/recsys
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(tutorial mf-sgd best)

# One multitask run: rating weight $1, retrieval weight $2, seed $3.
multitask() {
  local start end line
  start=$(date +%s.%N)
  line=$("$BIN" train --preset multitask --rating-weight "$1" --retrieval-weight "$2" --seed "$3" \
    --train "$P/train.tsv" --test "$P/test.tsv" --out "$OUT/multitask-$1-$2-$3" --json 2>/dev/null |
    python3 -c 'import json,sys; o=json.load(sys.stdin); t={x["k"]: x["accuracy"] for x in o["retrieval"]["factorized_top_k"]}; print("test_rmse %.4f\ttop_100 %.4f\ttop_10 %.4f" % (o["test"]["root_mean_squared_error"], t[100], t[10]))')
  end=$(date +%s.%N)
  printf 'multitask %s,%s\tseed %s\t%s\tseconds %.1f\n' "$1" "$2" "$3" "$line" "$(echo "$end - $start" | bc)"
}

for preset in "${presets[@]}"; do
  if [ "$preset" = multitask ]; then
    for weights in "1 0" "0 1" "1 1"; do
      for seed in 1 2 3 4 5; do
        # shellcheck disable=SC2086
        multitask $weights "$seed"
      done
    done
    continue
  fi
  for seed in 1 2 3 4 5; do
    start=$(date +%s.%N)
    rmse=$("$BIN" train --preset "$preset" --seed "$seed" --train "$P/train.tsv" --test "$P/test.tsv" \
      --out "$OUT/$preset-$seed" --json 2>/dev/null | python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["test"]["root_mean_squared_error"])')
    end=$(date +%s.%N)
    printf '%s\tseed %s\ttest_rmse %s\tseconds %.1f\n' "$preset" "$seed" "$rmse" "$(echo "$end - $start" | bc)"
  done
done
