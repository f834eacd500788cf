"""History checkers for black-box fault runs: per-key linearizability of
register histories (Wing & Gong search with Lowe's memoisation, partitioned
by key as in Porcupine) and the list-append invariants.

An operation is a dict-like Op: process, kind ("read", "write" or
"append"), key, value (the value written or appended; for a read, what it
returned: bytes, or None for a missing key, or a list of tokens for an
append-workload read), invoke and complete times (floats), and outcome:
"ok" (it happened), "fail" (known not applied) or "info" (indeterminate:
it may or may not have taken effect, at any time after its invocation).

A search that exceeds its step budget returns UNKNOWN, and every caller
must treat UNKNOWN as a failure: an unfinished check proves nothing.
"""

import math
from dataclasses import dataclass, field

LINEARIZABLE = "linearizable"
NOT_LINEARIZABLE = "not linearizable"
UNKNOWN = "unknown (search budget exhausted)"


@dataclass
class Op:
    process: int
    kind: str
    key: str
    value: object
    invoke: float
    complete: float
    outcome: str = "ok"
    id: int = field(default=-1, compare=False)

    def describe(self):
        end = "?" if self.outcome == "info" else "%.6f" % self.complete
        return "p%d %s %s %r [%.6f, %s] %s" % (
            self.process, self.kind, self.key, self.value, self.invoke,
            end, self.outcome)


@dataclass
class Result:
    verdict: str
    key: object = None
    report: str = ""

    @property
    def ok(self):
        return self.verdict == LINEARIZABLE


class _Entry:
    """One call or return event in the doubly linked event list."""

    __slots__ = ("op", "is_call", "match", "prev", "next")

    def __init__(self, op, is_call):
        self.op = op
        self.is_call = is_call
        self.match = None
        self.prev = None
        self.next = None


def _register_step(state, op):
    """The register model: a write sets the value; a read must return it."""
    if op.kind == "write":
        return True, op.value
    return op.value == state, state


def _events(ops):
    """The event list: calls sorted by invocation, returns by completion.
    At equal times calls come first, so touching operations count as
    concurrent (the permissive reading: no false anomaly from clock ties).
    An indeterminate operation never returns: it may take effect at any
    point after its call, or (for a write nobody read) effectively never."""
    events = []
    for op in ops:
        call = _Entry(op, True)
        ret = _Entry(op, False)
        call.match = ret
        end = math.inf if op.outcome == "info" else op.complete
        events.append((op.invoke, 0, call))
        events.append((end, 1, ret))
    events.sort(key=lambda e: (e[0], e[1]))
    head = _Entry(None, False)
    prev = head
    for _, _, entry in events:
        prev.next = entry
        entry.prev = prev
        prev = entry
    return head


def _lift(call):
    call.prev.next = call.next
    if call.next is not None:
        call.next.prev = call.prev
    ret = call.match
    ret.prev.next = ret.next
    if ret.next is not None:
        ret.next.prev = ret.prev


def _unlift(call):
    ret = call.match
    ret.prev.next = ret
    if ret.next is not None:
        ret.next.prev = ret
    call.prev.next = call
    if call.next is not None:
        call.next.prev = call


def check_register_key(ops, initial=None, budget=2_000_000):
    """Whether one key's history is linearizable; ops: that key's Ops.
    Returns (verdict, report). Failed operations are dropped (they did not
    happen) and so are indeterminate reads (they returned nothing)."""
    ops = [o for o in ops if o.outcome != "fail"
           and not (o.kind == "read" and o.outcome == "info")]
    for i, op in enumerate(ops):
        op.id = i
    head = _events(ops)
    state = initial
    linearized = 0
    cache = set()
    stack = []
    steps = 0
    best_depth = 0
    stuck_at = None
    entry = head.next
    while head.next is not None:
        steps += 1
        if steps > budget:
            return UNKNOWN, "gave up after %d search steps" % budget
        if entry.is_call:
            legal, new_state = _register_step(state, entry.op)
            if legal:
                new_linearized = linearized | (1 << entry.op.id)
                if (new_linearized, new_state) not in cache:
                    cache.add((new_linearized, new_state))
                    stack.append((entry, state))
                    state = new_state
                    linearized = new_linearized
                    _lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            # A return whose call was never placed: backtrack.
            if len(stack) >= best_depth:
                best_depth = len(stack)
                stuck_at = (entry.op, [e.op for e, _ in stack], state)
            if not stack:
                return NOT_LINEARIZABLE, _report(ops, stuck_at)
            entry, state = stack.pop()
            linearized &= ~(1 << entry.op.id)
            _unlift(entry)
            entry = entry.next
    return LINEARIZABLE, ""


def _report(ops, stuck_at):
    """The smallest window that shows the anomaly: the longest prefix the
    search could linearize, the operation it could never place after it,
    and every operation concurrent with that one."""
    blocked, placed, state = stuck_at
    lines = ["longest linearizable prefix (%d ops), ending in state %r:"
             % (len(placed), state)]
    lines += ["  " + o.describe() for o in placed[-5:]]
    lines.append("operation that cannot be placed next:")
    lines.append("  " + blocked.describe())
    lines.append("operations concurrent with it:")
    for o in ops:
        end = math.inf if o.outcome == "info" else o.complete
        if o is not blocked and o.invoke <= blocked.complete \
                and end >= blocked.invoke:
            lines.append("  " + o.describe())
    return "\n".join(lines)


def check_registers(history, budget=2_000_000):
    """Checks every key of a register history; returns the first failing
    Result (UNKNOWN counts as failing), or a passing one."""
    by_key = {}
    for op in history:
        by_key.setdefault(op.key, []).append(op)
    for key in sorted(by_key):
        verdict, report = check_register_key(by_key[key], budget=budget)
        if verdict != LINEARIZABLE:
            return Result(verdict, key, "key %r: %s\n%s" % (key, verdict, report))
    return Result(LINEARIZABLE)


def check_list_append(history):
    """The list-append invariants, per key. Reads return lists of tokens.
    The harness ends with a read of every key after all clients stopped, so
    "every acknowledged append is in every read that began after it ended"
    includes "it is in the final read". Returns a Result whose report lists
    every violation found."""
    problems = []
    by_key = {}
    for op in history:
        by_key.setdefault(op.key, []).append(op)
    for key in sorted(by_key):
        problems += _check_append_key(key, by_key[key])
    if problems:
        return Result(NOT_LINEARIZABLE, None, "\n".join(problems))
    return Result(LINEARIZABLE)


def _check_append_key(key, ops):
    problems = []
    appends = [o for o in ops if o.kind == "append"]
    reads = sorted((o for o in ops if o.kind == "read" and o.outcome == "ok"),
                   key=lambda o: o.complete)
    status = {}
    for a in appends:
        if a.value in status:
            problems.append("key %r: token %r appended twice by the client "
                            "(the workload must use unique tokens)" % (key, a.value))
        status[a.value] = a
    for r in reads:
        seen = set()
        for token in r.value:
            if token in seen:
                problems.append("key %r: token %r appears twice in read %s"
                                % (key, token, r.describe()))
            seen.add(token)
            origin = status.get(token)
            if origin is None:
                problems.append("key %r: read %s holds %r, which nobody appended"
                                % (key, r.describe(), token))
            elif origin.outcome == "fail":
                problems.append("key %r: read %s holds %r, whose append failed"
                                % (key, r.describe(), token))
    # Every pair of reads is ordered by prefix: no reordering, nothing lost.
    for i, a in enumerate(reads):
        for b in reads[i + 1:]:
            shorter, longer = (a, b) if len(a.value) <= len(b.value) else (b, a)
            if list(longer.value[:len(shorter.value)]) != list(shorter.value):
                problems.append("key %r: reads disagree on order or content:\n"
                                "  %s\n  %s" % (key, a.describe(), b.describe()))
            elif b.invoke > a.complete and len(b.value) < len(a.value):
                problems.append("key %r: a later read lost tokens an earlier "
                                "one saw:\n  %s\n  %s"
                                % (key, a.describe(), b.describe()))
    # Acknowledged appends are in every read that began after they ended.
    for a in appends:
        if a.outcome != "ok":
            continue
        for r in reads:
            if r.invoke > a.complete and a.value not in r.value:
                problems.append("key %r: acknowledged append %s missing from "
                                "later read %s" % (key, a.describe(), r.describe()))
    return problems
