#!/usr/bin/env bash
# cli/test_storage_cli.sh: `sampan storage check|dump` on a real data
# directory: a healthy one (exit 0, a summary naming term, vote, snapshot and
# segments), one with a flipped byte mid-log (exit 1, the message names the
# file and offset), and usage errors (exit 2 with a usage line).
# Usage: test_storage_cli.sh BIN_DIR
set -u
bin=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
pass=0
check() { # name, condition
    if eval "$2"; then pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi
}

"$bin/sampan-test-mkdata" "$dir/data" || { echo "FAIL: mkdata"; exit 1; }

out=$("$bin/sampan" storage check "$dir/data" 2>&1); rc=$?
check "check exits 0 on a healthy dir (got $rc: $out)" '[ $rc -eq 0 ]'
check "check reports term and vote" 'grep -q "term 3 vote 2" <<<"$out"'
check "check reports the snapshot" 'grep -q "index 20" <<<"$out"'
check "check reports segments" 'grep -q "segment wal-" <<<"$out"'

out=$("$bin/sampan" storage dump "$dir/data" 2>&1); rc=$?
check "dump exits 0" '[ $rc -eq 0 ]'
check "dump lists records" '[ $(grep -c "index [0-9]* term 3" <<<"$out") -ge 20 ]'

# Flip one byte inside the first batch of the oldest segment.
seg=$(ls "$dir/data" | grep '^wal-' | sort | head -n 1)
printf '\xff' | dd of="$dir/data/$seg" bs=1 seek=600 conv=notrunc status=none
out=$("$bin/sampan" storage check "$dir/data" 2>&1); rc=$?
check "check exits 1 on corruption (got $rc: $out)" '[ $rc -eq 1 ]'
check "the error names the file" 'grep -q "$seg" <<<"$out"'
check "the error names an offset" 'grep -q "offset" <<<"$out"'

out=$("$bin/sampan" storage check 2>&1); rc=$?
check "missing DIR exits 2" '[ $rc -eq 2 ]'
check "usage line shown" 'grep -qi "usage" <<<"$out"'
out=$("$bin/sampan" storage frobnicate "$dir/data" 2>&1); rc=$?
check "unknown subcommand exits 2" '[ $rc -eq 2 ]'
out=$("$bin/sampan" nosuchcommand 2>&1); rc=$?
check "unknown command exits 2" '[ $rc -eq 2 ]'
out=$("$bin/sampan" storage check "$dir/does-not-exist" 2>&1); rc=$?
check "missing directory exits 1 (got $rc)" '[ $rc -eq 1 ]'
out=$("$bin/sampan" version 2>&1); rc=$?
check "version exits 0" '[ $rc -eq 0 ] && grep -q "sampan" <<<"$out"'

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
