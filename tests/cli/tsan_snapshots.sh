#!/usr/bin/env bash
# cli/tsan_snapshots.sh: threads meet in sampan serve in two places: the
# snapshot worker (it serializes the key space and writes the snapshot file
# while the loop keeps applying writes) and the write thread (writer.c: each
# batch's write and fdatasync, which the loop waits for up to a tick and
# then leaves running). Runs a ThreadSanitizer build of the server through a
# write load that takes many snapshots, once with the default wait and once
# with --write-wait-ms 0 (every write finishes in the background), and fails
# on any TSan report. Usage: tsan_snapshots.sh TSAN_SAMPAN_BINARY
set -u
bin=$1
dir=$(mktemp -d)
port=$(( 30000 + $$ % 5000 ))
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

# run NAME [serve flags...]: one server, one load; prints what it saw.
run() {
    local name=$1
    shift
    rm -rf "$dir/data"
    TSAN_OPTIONS="halt_on_error=0" "$bin" serve --data-dir "$dir/data" \
        --listen 127.0.0.1:$port --peer-listen 127.0.0.1:$((port + 10000)) \
        --snapshot-every 2000 "$@" >"$dir/log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        redis-cli -p $port ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    redis-benchmark -p $port -t set,get -n 20000 -r 50000 -c 20 -q \
        >/dev/null 2>&1
    written=$(redis-cli -p $port info | tr -d '\r' |
        sed -n 's/^snapshots_written://p')
    kill -TERM $pid
    for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    pid=
    reports=$(grep -c "WARNING: ThreadSanitizer" "$dir/log")
    echo "$name: snapshots written: ${written:-0}; ThreadSanitizer reports: $reports"
    [ "$reports" -gt 0 ] && grep -A20 "WARNING: ThreadSanitizer" "$dir/log" | head -60
    [ "${written:-0}" -ge 3 ] && [ "$reports" -eq 0 ]
}

failed=0
run "default write wait" || failed=$((failed + 1))
run "--write-wait-ms 0" --write-wait-ms 0 || failed=$((failed + 1))
echo "$((2 - failed)) passed, $failed failed"
[ $failed -eq 0 ]
