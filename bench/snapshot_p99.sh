#!/usr/bin/env bash
# bench/snapshot_p99.sh: write latency while a snapshot of 1M keys is taken
# (figures, not a test). Starts one Release `sampan serve` on 127.0.0.1,
# loads 1,000,000 keys of 100 bytes, then runs redis-benchmark SET three
# times: a baseline, a run during which the snapshot of the whole key space
# is written (the node snapshots every 1,050,000 entries), and one after.
# Prints each run's latency summary (avg min p50 p95 p99 max, ms). Stops
# exactly the server it started. Usage: bench/snapshot_p99.sh [SAMPAN_BIN]
set -euo pipefail
bin=${1:-build-release/bin/sampan}
dir=$(mktemp -d)
port=$(( 32000 + $$ % 3000 ))
"$bin" serve --data-dir "$dir/data" --listen 127.0.0.1:$port \
    --peer-listen 127.0.0.1:$((port + 10000)) --snapshot-every 1050000 \
    >"$dir/log" 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
/usr/bin/python3 - "$dir/load.resp" <<'PY'
import sys
v = b"x" * 100
with open(sys.argv[1], "wb") as out:
    for i in range(1000000):
        k = b"key:%07d" % i
        out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$100\r\n%s\r\n" % (len(k), k, v))
PY
redis-cli -p $port --pipe <"$dir/load.resp" | tail -n 1
run() {
    redis-benchmark -p $port -t set -n "$1" -c 50 -d 100 -r 1000000 2>&1 |
        tr '\r' '\n' | grep -A2 "latency summary" | tail -n 1
}
echo "run                    avg       min       p50       p95       p99       max"
printf "%-16s" "baseline"; run 40000
printf "%-16s" "during snapshot"; run 60000
printf "%-16s" "after"; run 40000
redis-cli -p $port info | tr -d '\r' | grep -E "snapshots_written|snapshot_index|keys:"
echo "RSS: $(ps -o rss= -p $pid) KiB"
kill -TERM $pid; wait $pid || true
