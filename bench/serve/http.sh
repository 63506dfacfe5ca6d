#!/usr/bin/env bash
# HTTP load on `recsys serve`: 100-candidate /v1/rank requests from wrk, on this machine.
#
#   bench/serve/http.sh [MODEL_DIR] [DURATION] [CONNECTIONS]
#
# With PAIRS=1, each request is instead a /v1/predict of one (user, title) pair: what a
# request costs besides its scoring (which is about 2 µs for one pair).
#
# MODEL_DIR defaults to a tutorial model trained into a temporary directory. Needs wrk
# (apt-get install wrk). Prints wrk's report (requests/s and the latency distribution).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${2:-10s}
CONNECTIONS=${3:-16}
PORT=${PORT:-18080}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p recsys-cli
RECSYS="$TARGET/release/recsys"
WORK=$(mktemp -d)
trap 'kill -TERM "${SERVER:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
MODEL=${1:-}
if [ -z "$MODEL" ]; then
    MODEL="$WORK/model"
    RECSYS_DATA_DIR=${RECSYS_DATA_DIR:-../shared/data} "$RECSYS" tutorial --out "$MODEL" > /dev/null 2>&1
fi
# The first 100 titles of the model's vocabulary, for user 42.
PAIRS=${PAIRS:-0}
python3 - "$MODEL/vocabulary.json" "$PAIRS" > "$WORK/body.json" <<'PY'
import json, sys
titles = json.load(open(sys.argv[1], encoding="utf-8"))["movie_title"][:100]
if sys.argv[2] == "1":
    print(json.dumps({"pairs": [{"user_id": "42", "movie_title": titles[0]}]}))
else:
    print(json.dumps({"user_id": "42", "candidates": titles}))
PY
ENDPOINT=/v1/rank
[ "$PAIRS" = 1 ] && ENDPOINT=/v1/predict
cat > "$WORK/rank.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$WORK/body.json", "r")
wrk.body = f:read("*a")
f:close()
LUA
"$RECSYS" serve --model "movies=$MODEL" --addr "127.0.0.1:$PORT" --watch-interval-ms 0 2> "$WORK/serve.log" &
SERVER=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/v2/health/ready" > /dev/null && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT$ENDPOINT" -d @"$WORK/body.json" | head -c 200; echo
echo "== wrk -t2 -c$CONNECTIONS -d$DURATION --latency ($ENDPOINT, $(head -c 60 "$WORK/body.json")…)"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/rank.lua" "http://127.0.0.1:$PORT$ENDPOINT"
