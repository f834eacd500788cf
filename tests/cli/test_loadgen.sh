#!/usr/bin/env bash
# cli/test_loadgen.sh: a smoke test of sampan-loadgen (a benchmark tool:
# its figures are not checked). Against one `sampan serve` node on free
# 127.0.0.1 ports with a temporary data directory: 1 s of pipelined writes,
# then 1 s of reads, each ending in a RESULT line with ops>0 and errors=0.
# Bad flags exit 2 with a message naming the flag; an address nobody
# listens on exits 1 naming it.
# Usage: test_loadgen.sh BIN_DIR
set -euo pipefail
bin=$1
sampan=$bin/sampan
loadgen=$bin/sampan-loadgen
dir=$(mktemp -d)
node="" # the one `sampan serve` this test started (our child)
fail=0
pass=0
check() { # name, condition
    if eval "$2"; then pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi
}
cleanup() {
    if [ -n "$node" ] && kill -0 "$node" 2>/dev/null; then
        kill -TERM "$node" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$node" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$node" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

# Starts the node on client port $1 (peer port 10000 above); returns 1 if
# it exited (a port in use), 0 once it leads its one-node cluster.
start_node() {
    local port=$1
    rm -rf "$dir/data"
    "$sampan" serve --id 1 --data-dir "$dir/data" \
        --listen "127.0.0.1:$port" --peer-listen "127.0.0.1:$((port + 10000))" \
        >"$dir/node.log" 2>&1 &
    node=$!
    for _ in $(seq 200); do
        if ! kill -0 "$node" 2>/dev/null; then
            wait "$node" || true
            node=""
            return 1
        fi
        if "$sampan" status --addrs "127.0.0.1:$port" 2>/dev/null |
            grep -q '^leader: node 1 '; then
            return 0
        fi
        sleep 0.1
    done
    echo "node on port $port did not become leader:"
    cat "$dir/node.log"
    return 2
}

# Client ports in 22000-23999 (peer ports 10000 above), below the kernel's
# ephemeral range; derived from $$ so parallel runs differ, moved on if
# taken.
port=$((22000 + ($$ % 1000) * 2))
started=1
for _ in $(seq 8); do
    rc=0
    start_node "$port" || rc=$?
    if [ $rc -eq 0 ]; then started=0; break; fi
    [ $rc -eq 1 ] || break
    port=$((22000 + (port - 22000 + 2 * 37) % 2000))
done
if [ $started -ne 0 ]; then echo "FAIL: could not start a sampan node"; exit 1; fi
addr=127.0.0.1:$port

# run NAME ARGS...: one load run; sets out (stdout), err, rc.
run() {
    rc=0
    out=$("$loadgen" "$@" 2>"$dir/err") || rc=$?
    err=$(cat "$dir/err")
}
field() { # NAME: the integer value of NAME= in the RESULT line
    sed -n "s/^RESULT .*\b$1=\([0-9][0-9]*\).*/\1/p" <<<"$out"
}

for ratio in 0 1; do
    what=$([ $ratio = 0 ] && echo writes || echo reads)
    run --proto resp --addr "$addr" --conns 4 --pipeline 4 --duration 1 \
        --warmup 0.2 --keyspace 1000 --value-size 100 --read-ratio $ratio
    check "$what: exit 0 (got $rc: $err)" '[ $rc -eq 0 ]'
    check "$what: two lines of output (got: $out)" \
        '[ $(wc -l <<<"$out") -eq 2 ]'
    check "$what: summary line (got: $out)" \
        'grep -q "^resp $addr conns=4 pipeline=4 reads=$ratio.00: [0-9]* ops/s, p50 [0-9.]* ms, p99 [0-9.]* ms, p99.9 [0-9.]* ms, 0 errors$" <<<"$out"'
    check "$what: RESULT line (got: $out)" \
        'grep -q "^RESULT ops=[0-9]* ops_per_sec=[0-9.]* p50_ms=[0-9.]* p99_ms=[0-9.]* p999_ms=[0-9.]* errors=[0-9]* first_error=\"[^\"]*\"$" <<<"$out"'
    ops=$(field ops)
    errors=$(field errors)
    check "$what: ops > 0 (got '$ops')" '[ -n "$ops" ] && [ "$ops" -gt 0 ]'
    check "$what: errors = 0 (got '$errors': $out)" '[ "$errors" = 0 ]'
    echo "$what: $(head -n 1 <<<"$out")"
done
got=$("$sampan" get key:1 --addr "$addr" 2>&1 || true)
check "a written key holds a 100-byte value (got '$got')" '[ ${#got} -eq 100 ] || [ "$got" = "(nil)" ]'

# Bad flags: exit 2, naming the flag (and the value).
bad() { # name, expected text, args...
    local name=$1 want=$2
    shift 2
    run "$@"
    check "$name exits 2 (got $rc: $err)" '[ $rc -eq 2 ]'
    check "$name names '$want' (got: $err)" 'grep -q -- "$want" <<<"$err"'
    check "$name prints no RESULT" '[ -z "$out" ]'
}
bad "--conns 0" "--conns: '0'" --proto resp --addr "$addr" --conns 0
bad "--conns 10001" "--conns: '10001'" --proto resp --addr "$addr" --conns 10001
bad "--pipeline 1025" "--pipeline: '1025'" --proto resp --addr "$addr" --pipeline 1025
bad "--value-size 0" "--value-size: '0'" --proto resp --addr "$addr" --value-size 0
bad "--value-size x" "--value-size: 'x'" --proto resp --addr "$addr" --value-size x
bad "--keyspace 2^32+1" "--keyspace: '4294967297'" --proto resp --addr "$addr" --keyspace 4294967297
bad "--duration 0.05" "--duration: '0.05'" --proto resp --addr "$addr" --duration 0.05
bad "--duration nan" "--duration: 'nan'" --proto resp --addr "$addr" --duration nan
bad "--read-ratio 1.5" "--read-ratio: '1.5'" --proto resp --addr "$addr" --read-ratio 1.5
bad "--conns -1" "--conns: '-1'" --proto resp --addr "$addr" --conns -1
bad "--proto http" "--proto: 'http'" --proto http --addr "$addr"
bad "--addr without port" "--addr: '127.0.0.1'" --proto resp --addr 127.0.0.1
bad "--addr port 0" "--addr: '127.0.0.1:0'" --proto resp --addr 127.0.0.1:0
bad "unknown flag" "unknown flag '--bogus'" --proto resp --addr "$addr" --bogus 1
bad "missing value" "--seed needs a value" --proto resp --addr "$addr" --seed
bad "missing --addr" "--addr is required" --proto resp

# Nothing listens on port 1: a connection failure is fatal, exit 1.
run --proto resp --addr 127.0.0.1:1 --duration 0.1 --warmup 0
check "refused connection exits 1 (got $rc)" '[ $rc -eq 1 ]'
check "and names the address (got: $err)" 'grep -q "127.0.0.1:1" <<<"$err"'

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
