#!/usr/bin/env bash
# cli/test_cluster_cli.sh: `sampan cluster`, `status` and the get/set/del/
# incr/append client against real processes on 127.0.0.1: a 3-node cluster
# elects a leader, serves writes and reads through every node, survives
# `kill -9` of its leader (reported by the supervisor), refuses ports in
# use, stops every node it started on SIGTERM (exit 0, no stray
# `sampan serve`), and keeps its data for the next start. Usage errors
# exit 2 with a message.
# Usage: test_cluster_cli.sh BIN_DIR
set -u
bin=$1
sampan=$bin/sampan
dir=$(mktemp -d)
sup=""   # the running `sampan cluster`
pids=""  # the node pids it printed
fail=0
pass=0
check() { # name, condition
    if eval "$2"; then pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi
}

# True while pid $1 is a `sampan serve` of this test's data directory (so a
# recycled pid is never touched).
# (A bash match, not grep: grep's own command line would hold the pattern.)
ours() {
    local cmd
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
    [[ $cmd == "sampan serve "*"$dir/c/node-"* ]]
}
strays() { # true if any `sampan serve` of this test is still running
    local p
    for p in /proc/[0-9]*; do ours "${p#/proc/}" && return 0; done
    return 1
}
cleanup() {
    if [ -n "$sup" ] && kill -0 "$sup" 2>/dev/null; then
        kill -TERM "$sup"
        for _ in $(seq 100); do kill -0 "$sup" 2>/dev/null || break; sleep 0.1; done
    fi
    for p in $pids; do ours "$p" && kill -KILL "$p"; done
    rm -rf "$dir"
}
trap cleanup EXIT

# Starts the cluster on $base in the background; sets sup, pids, ids[].
# Returns 1 if it refused to start (a port in use), 2 on anything else.
start_cluster() {
    : >"$dir/out"
    : >"$dir/err"
    "$sampan" cluster --nodes 3 --base-port "$base" --dir "$dir/c" \
        --election-ms 300 >"$dir/out" 2>"$dir/err" &
    sup=$!
    for _ in $(seq 100); do
        grep -q '^Ctrl-C' "$dir/out" && break
        kill -0 "$sup" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q '^Ctrl-C' "$dir/out"; then
        wait "$sup"; local rc=$?
        sup=""
        grep -q 'not free' "$dir/err" && [ $rc -eq 1 ] && return 1
        echo "cluster did not start (rc $rc):"; cat "$dir/out" "$dir/err"
        return 2
    fi
    pids=$(sed -n 's/^node [0-9]*: .* pid \([0-9]*\) .*/\1/p' "$dir/out")
    addrs="127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
    return 0
}

# Polls `sampan status --addrs` until some node leads; prints its id.
wait_leader() {
    for _ in $(seq 150); do
        local id
        id=$("$sampan" status --addrs "$addrs" 2>/dev/null |
            sed -n 's/^leader: node \([0-9]*\) .*/\1/p')
        if [ -n "$id" ]; then echo "$id"; return 0; fi
        sleep 0.1
    done
    return 1
}

# Client ports in 20000-21999 and peer ports 10000 above, below the
# kernel's ephemeral range; derived from $$ so parallel runs differ, and
# moved on if taken.
base=$((20000 + ($$ % 400) * 5))
rc=1
for _ in $(seq 8); do
    start_cluster; rc=$?
    [ $rc -eq 1 ] || break
    base=$((20000 + (base - 20000 + 5 * 37) % 2000))
done
if [ $rc -ne 0 ]; then echo "FAIL: could not start a cluster"; exit 1; fi
check "banner lists 3 nodes with pids" '[ $(echo $pids | wc -w) -eq 3 ]'
check "banner names each log" 'grep -q "log $dir/c/node-2.log" "$dir/out"'
check "banner says how to try it" 'grep -q "redis-cli -p $base set k v" "$dir/out"'

leader=$(wait_leader)
check "a leader is elected" '[ -n "$leader" ]'
p1=$base; p2=$((base + 1)); p3=$((base + 2))
c() { # port, command, args...: one client command to one node; sets out, rc
    local port=$1 cmd=$2; shift 2
    out=$("$sampan" "$cmd" --addr "127.0.0.1:$port" "$@" 2>&1); rc=$?
}

c $p2 set k1 v1
check "set via node 2 (got $rc: $out)" '[ $rc -eq 0 ] && [ "$out" = OK ]'
c $p3 get k1
check "get via node 3 sees it (got $out)" '[ "$out" = v1 ]'
c $p1 incr n
check "incr via node 1 (got $out)" '[ $rc -eq 0 ] && [ "$out" = 1 ]'
c $p3 incr n
check "incr via node 3 (got $out)" '[ "$out" = 2 ]'
c $p2 append k1 xyz
check "append prints the new length (got $out)" '[ "$out" = 5 ]'
c $p1 get k1
check "get after append (got $out)" '[ "$out" = v1xyz ]'
c $p3 del k1 n nokey
check "del counts existing keys (got $out)" '[ "$out" = 2 ]'
c $p2 get k1
check "deleted key reads (nil) (got $out)" '[ $rc -eq 0 ] && [ "$out" = "(nil)" ]'
c $p1 set s abc
c $p1 incr s
check "incr of a string: (error), exit 1 (got $rc: $out)" \
    '[ $rc -eq 1 ] && grep -q "^(error) ERR" <<<"$out"'
c $p1 set -- --dashed -5
c $p2 get -- --dashed
check "'--' ends flags; -5 is a value (got $out)" '[ "$out" = -5 ]'
c $p1 set kept yes

out=$("$sampan" status --addr "127.0.0.1:$p1" 2>&1); rc=$?
check "status of one node exits 0" '[ $rc -eq 0 ]'
check "status shows role and members (got: $out)" \
    'grep -q "role " <<<"$out" && grep -q "members     1,2,3" <<<"$out"'
out=$("$sampan" status --addrs "$addrs" 2>&1); rc=$?
check "status --addrs exits 0 (got $rc)" '[ $rc -eq 0 ]'
check "status names the leader" 'grep -q "^leader: node $leader " <<<"$out"'
check "status has one row per node" \
    '[ $(grep -c "^127.0.0.1:.* \(leader\|follower\) " <<<"$out") -eq 3 ]'

# A second cluster on the same ports must refuse, naming the port.
out=$("$sampan" cluster --nodes 3 --base-port "$base" --dir "$dir/c2" 2>&1); rc=$?
check "ports in use: exit 1 (got $rc)" '[ $rc -eq 1 ]'
check "ports in use: the port is named" 'grep -q "port $base " <<<"$out"'

# Kill the leader: the supervisor reports it, the others elect a new one.
lpid=$(sed -n "s/^node $leader: .* pid \([0-9]*\) .*/\1/p" "$dir/out")
kill -9 "$lpid"
for _ in $(seq 50); do grep -q "pid $lpid) was killed" "$dir/err" && break; sleep 0.1; done
check "supervisor reports the dead node" \
    'grep -q "node $leader (pid $lpid) was killed by signal 9" "$dir/err"'
check "supervisor keeps the others" 'kill -0 $sup 2>/dev/null'
new=$(wait_leader)
check "a new leader is elected (was $leader, now $new)" \
    '[ -n "$new" ] && [ "$new" != "$leader" ]'
out=$("$sampan" status --addrs "$addrs" 2>&1); rc=$?
check "status: a node down exits 1 naming it (got $rc)" \
    '[ $rc -eq 1 ] && grep -q "cannot connect to 127.0.0.1:$((base + leader - 1))" <<<"$out"'
c $((base + new - 1)) incr after
check "writes go on after the leader died (got $out)" '[ "$out" = 1 ]'

# SIGTERM: every node it started stops, exit 0.
kill -TERM "$sup"
for _ in $(seq 150); do kill -0 "$sup" 2>/dev/null || break; sleep 0.1; done
check "cluster exits after SIGTERM" '! kill -0 $sup 2>/dev/null'
wait "$sup"; rc=$?
sup=""
check "cluster exits 0 (got $rc)" '[ $rc -eq 0 ]'
for p in $pids; do
    check "node pid $p is gone" '! ours $p'
done
check "no stray sampan serve of this test" '! strays'

# The next start on the same directory has the data.
start_cluster; rc=$?
check "restart on the same dir (got $rc)" '[ $rc -eq 0 ]'
if [ $rc -eq 0 ]; then
    wait_leader >/dev/null
    c $p3 get kept
    check "data kept across restarts (got $out)" '[ "$out" = yes ]'
    kill -TERM "$sup"; wait "$sup"; rc=$?
    sup=""
    check "second stop exits 0 (got $rc)" '[ $rc -eq 0 ]'
fi

# Nothing listens on the cluster's ports now.
c $p1 get k1
check "unreachable node: exit 1 naming it (got $rc: $out)" \
    '[ $rc -eq 1 ] && grep -q "127.0.0.1:$p1" <<<"$out"'

# Usage errors: exit 2 and a message naming what was wrong.
usage() { # name, expected text, args...
    local name=$1 want=$2; shift 2
    out=$("$sampan" "$@" 2>&1); rc=$?
    check "$name exits 2 (got $rc: $out)" '[ $rc -eq 2 ]'
    check "$name says '$want'" 'grep -q -- "$want" <<<"$out"'
}
usage "cluster --nodes 0" "--nodes" cluster --nodes 0
usage "cluster --nodes 8" "--nodes" cluster --nodes 8
usage "cluster --bogus" "unknown argument '--bogus'" cluster --bogus
usage "cluster --dir without a value" "--dir needs a value" cluster --dir
usage "cluster --base-port 60000" "65535" cluster --base-port 60000
usage "status --addrs x" "'x' is not HOST:PORT" status --addrs 127.0.0.1:1,x
usage "status extra" "unknown argument" status extra
usage "get without a key" "missing KEY" get
usage "set without a value" "missing VALUE" set k
usage "get two keys" "unexpected argument 'b'" get a b
usage "get --addr nope" "bad value 'nope' for --addr" get k --addr nope
usage "incr --frob" "unknown flag '--frob'" incr k --frob

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
