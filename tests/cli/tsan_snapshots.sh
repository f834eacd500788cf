#!/usr/bin/env bash
# cli/tsan_snapshots.sh: threads meet in sampan serve in two places: the
# snapshot worker (it serializes the key space and writes the snapshot file
# while the loop keeps applying writes) and the write thread (writer.c: each
# batch's write and fdatasync, which the loop waits for up to a tick and
# then leaves running). Runs a ThreadSanitizer build of the server through a
# write load that takes many snapshots, once with the default wait and once
# with --write-wait-ms 0 (every write finishes in the background), and fails
# on any TSan report; then three nodes with every write in the background,
# a follower wiped and caught up meanwhile. Usage: tsan_snapshots.sh
# TSAN_SAMPAN_BINARY
set -u
bin=$1
dir=$(mktemp -d)
port=$(( 30000 + $$ % 5000 ))
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    for p in "${pids3[@]}"; do kill -9 "$p" 2>/dev/null; done
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

# run3: three nodes, every write in the background, so followers step
# appends (and the leader proposes and replicates) while the write thread
# writes; a follower is wiped and caught up by snapshot meanwhile.
pids3=()
run3() {
    local peers="" i
    for i in 1 2 3; do
        peers="$peers${peers:+,}$i=127.0.0.1:$((port + 10000 + i))"
    done
    start3() {
        TSAN_OPTIONS="halt_on_error=0" "$bin" serve --id "$1" \
            --data-dir "$dir/n$1" --listen 127.0.0.1:$((port + $1)) \
            --peer-listen 127.0.0.1:$((port + 10000 + $1)) --peers "$peers" \
            --write-wait-ms 0 --snapshot-every 2000 >>"$dir/log$1" 2>&1 &
        pids3[$1]=$!
    }
    rm -rf "$dir"/n[123] "$dir"/log[123]
    for i in 1 2 3; do start3 $i; done
    # Until a write through node 1 is taken (a leader was elected).
    writable() {
        for _ in $(seq 1 150); do
            [ "$(redis-cli -p $((port + 1)) set tsan:ready 1 2>/dev/null)" = OK ] &&
                return
            sleep 0.1
        done
    }
    writable
    local loads=()
    for i in 1 2 3; do
        redis-benchmark -p $((port + i)) -t set,get -n 8000 -r 50000 -c 10 \
            -q >/dev/null 2>&1 &
        loads+=($!)
    done
    wait "${loads[@]}"
    # A follower (not node 1, which takes the last load) is wiped.
    local victim=2
    redis-cli -p $((port + 2)) info | grep -q "role:leader" && victim=3
    kill -9 "${pids3[$victim]}"
    wait "${pids3[$victim]}" 2>/dev/null
    rm -rf "$dir/n$victim"
    start3 $victim
    writable
    redis-benchmark -p $((port + 1)) -t set -n 8000 -r 50000 -c 10 -q \
        >/dev/null 2>&1
    # Until every node applied the 32,000 SETs (at most 20 s).
    local applied_all n
    for _ in $(seq 1 200); do
        applied_all=1
        for i in 1 2 3; do
            n=$(redis-cli -p $((port + i)) info 2>/dev/null | tr -d '\r' |
                sed -n 's/^applied_index://p')
            [ "${n:-0}" -ge 32000 ] || applied_all=0
        done
        [ $applied_all -eq 1 ] && break
        sleep 0.1
    done
    local background=0 applied="" least=-1
    for i in 1 2 3; do
        info=$(redis-cli -p $((port + i)) info | tr -d '\r')
        background=$((background + $(echo "$info" |
            sed -n 's/^writes_background://p')))
        n=$(echo "$info" | sed -n 's/^applied_index://p')
        applied="$applied ${n:-none}"
        if [ -z "$n" ]; then
            least=0
        elif [ "$least" -lt 0 ] || [ "$n" -lt "$least" ]; then
            least=$n
        fi
    done
    for i in 1 2 3; do kill -TERM "${pids3[$i]}" 2>/dev/null; done
    for i in 1 2 3; do wait "${pids3[$i]}" 2>/dev/null; done
    pids3=()
    reports=$(cat "$dir"/log[123] | grep -c "WARNING: ThreadSanitizer")
    echo "3 nodes, --write-wait-ms 0: writes in the background: $background;" \
        "applied:$applied; ThreadSanitizer reports: $reports"
    [ "$reports" -gt 0 ] && cat "$dir"/log[123] |
        grep -A20 "WARNING: ThreadSanitizer" | head -60
    # 32,000 SETs were sent; every node, the wiped one too, applied them.
    [ "$least" -ge 32000 ] && [ "$background" -gt 0 ] && [ "$reports" -eq 0 ]
}

failed=0
run "default write wait" || failed=$((failed + 1))
run "--write-wait-ms 0" --write-wait-ms 0 || failed=$((failed + 1))
run3 || failed=$((failed + 1))
echo "$((3 - failed)) passed, $failed failed"
[ $failed -eq 0 ]
