#!/usr/bin/env bash
# TFRS and recsys side by side, interleaved in one run, reported as ratios (the machine is shared
# and noisy, so only same-run ratios mean anything).
#   1. steady training epoch: TFRS `tfrs_ranking.py seeds` vs `cargo bench -p recsys --bench tutorial`;
#   2. the whole tutorial: TFRS `tfrs_ranking.py tutorial` vs `recsys tutorial` (wall, peak RSS).
# Needs the peers' venv (../shared/peers/setup.sh). Usage: bench/compare_tfrs.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
peers=$PWD/../shared/peers
py=${PEERS_PYTHON:-$HOME/.cache/recsys-peers/venv/bin/python}
export RECSYS_DATA_DIR=${RECSYS_DATA_DIR:-$PWD/../shared/data}
export TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2
cargo build --release -q -p recsys-cli
recsys=${CARGO_TARGET_DIR:-target}/release/recsys
cargo bench -q -p recsys --bench tutorial --no-run
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for r in $(seq "$rounds"); do
  echo "round $r/$rounds" >&2
  "$py" "$peers/scripts/tfrs_ranking.py" seeds --seeds "$r" --epochs 6 --eval-reps 6 --out "$work/tfrs_seeds_$r.json" > /dev/null
  cargo bench -q -p recsys --bench tutorial -- --runs 1 --epochs 6 --evals 50 | grep '^{' > "$work/recsys_bench_$r.json"
  "$py" "$peers/scripts/wall_rss.py" --reps 1 --out "$work/tfrs_tutorial_$r.json" -- \
    "$py" "$peers/scripts/tfrs_ranking.py" tutorial > /dev/null
  "$py" "$peers/scripts/wall_rss.py" --reps 1 --out "$work/recsys_tutorial_$r.json" -- \
    "$recsys" tutorial --out "$work/model" --json > /dev/null
done
python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
load = lambda name: json.load(open(f"{work}/{name}"))
tf_epoch, rs_epoch, tf_eval, rs_eval, tf_wall, rs_wall, tf_rss, rs_rss, trips, firsts = ([] for _ in range(10))
for r in range(1, rounds + 1):
    s = load(f"tfrs_seeds_{r}.json")
    tf_epoch += [t for run in s["runs"] for t in run["epoch_train_s"][1:]]
    tf_eval += [t for run in s["runs"] for t in run["evaluate_s"][1:]]
    b = load(f"recsys_bench_{r}.json")
    rs_epoch.append(b["steady_epoch_s"]); rs_eval.append(b["evaluate_s"])
    trips.append(b.get("core_round_trip_ns"))
    firsts.append(b.get("first_evaluate_s"))
    for who, walls, rss in (("tfrs", tf_wall, tf_rss), ("recsys", rs_wall, rs_rss)):
        t = load(f"{who}_tutorial_{r}.json")
        walls.append(t["wall_s"]["median"]); rss.append(t["peak_rss_mib"]["median"])
m = statistics.median
rows = [
    ("steady epoch (s)", m(tf_epoch), m(rs_epoch)),
    ("evaluate 20k rows (ms)", 1e3 * m(tf_eval), 1e3 * m(rs_eval)),
    ("whole tutorial wall (s)", m(tf_wall), m(rs_wall)),
    ("whole tutorial peak RSS (MiB)", m(tf_rss), m(rs_rss)),
]
print(f"{'':32}{'TFRS':>12}{'recsys':>12}{'recsys/TFRS':>14}")
for name, t, r in rows:
    print(f"{name:32}{t:12.4f}{r:12.4f}{r / t:14.3f}")
print(f"({rounds} interleaved rounds; medians)")
shown = ", ".join("-" if t is None else f"{t:.0f} ns" for t in trips)
print(f"core-to-core round trip after each recsys bench: {shown}")
shown = ", ".join("-" if t is None else f"{1e3 * t:.2f} ms" for t in firsts)
print(f"recsys's first evaluate call in each bench (left out, as TFRS's first evaluation is): {shown}")
print("(~80 ns when the host keeps the two cores close; several times that in the phases where every two-thread figure is slower)")
PY
