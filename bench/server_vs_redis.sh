#!/usr/bin/env bash
# bench/server_vs_redis.sh: redis-benchmark against a local 3-node sampan
# cluster (separate processes and data directories, every write fsync'd on
# a majority) and a single redis-server with appendonly yes + appendfsync
# always, same machine, same run (figures, not a test). Installs
# redis-server from Debian if missing. Stops exactly what it started.
# Usage: bench/server_vs_redis.sh [SAMPAN_BIN] [extra redis-benchmark args]
set -euo pipefail
bin=${1:-build-release/bin/sampan}
shift || true
args=${*:--t set,get -c 50 -n 100000 -d 100}
command -v redis-server >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }
dir=$(mktemp -d)
base=$(( 34000 + $$ % 2000 ))
pids=()
trap 'kill -9 "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
peers="1=127.0.0.1:$((base + 10001)),2=127.0.0.1:$((base + 10002)),3=127.0.0.1:$((base + 10003))"
for i in 1 2 3; do
    "$bin" serve --id $i --data-dir "$dir/n$i" --listen 127.0.0.1:$((base + i)) \
        --peer-listen 127.0.0.1:$((base + 10000 + i)) --peers "$peers" \
        >"$dir/n$i.log" 2>&1 &
    pids+=($!)
done
redis-server --port $((base + 9)) --bind 127.0.0.1 --dir "$dir" --appendonly yes \
    --appendfsync always --save "" >"$dir/redis.log" 2>&1 &
pids+=($!)
leader=
for _ in $(seq 1 100); do
    for i in 1 2 3; do
        redis-cli -p $((base + i)) info 2>/dev/null | grep -q "role:leader" && leader=$i
    done
    [ -n "$leader" ] && break
    sleep 0.1
done
echo "== sampan, 3 nodes (leader node $leader): redis-benchmark $args"
redis-benchmark -p $((base + leader)) $args -q 2>&1 | tr '\r' '\n' | grep "per second"
echo "== redis-server, appendfsync always: redis-benchmark $args"
redis-benchmark -p $((base + 9)) $args -q 2>&1 | tr '\r' '\n' | grep "per second"
