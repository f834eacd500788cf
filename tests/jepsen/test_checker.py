"""Self-test of the history checkers: hand-made histories that are and are
not linearizable, each of which must be classified correctly, plus a
randomized cross-check against a brute-force search over orderings."""

import itertools
import random

from checker import (LINEARIZABLE, NOT_LINEARIZABLE, UNKNOWN, Op,
                     check_list_append, check_register_key, check_registers)


def w(p, key, value, t0, t1, outcome="ok"):
    return Op(p, "write", key, value, t0, t1, outcome)


def r(p, key, value, t0, t1, outcome="ok"):
    return Op(p, "read", key, value, t0, t1, outcome)


def app(p, key, token, t0, t1, outcome="ok"):
    return Op(p, "append", key, token, t0, t1, outcome)


# --- registers ---------------------------------------------------------------

def test_sequential_history_is_linearizable():
    h = [w(0, "x", 1, 0, 1), r(1, "x", 1, 2, 3), w(0, "x", 2, 4, 5),
         r(1, "x", 2, 6, 7)]
    assert check_registers(h).ok


def test_read_of_missing_key_sees_none():
    assert check_registers([r(0, "x", None, 0, 1), w(0, "x", 1, 2, 3)]).ok
    assert not check_registers([w(0, "x", 1, 0, 1), r(0, "x", None, 2, 3)]).ok


def test_stale_read_is_caught():
    """A read that starts after a write finished returns the older value:
    the isolated-old-leader anomaly."""
    h = [w(0, "x", 1, 0, 1), w(1, "x", 2, 2, 3), r(2, "x", 1, 4, 5)]
    res = check_registers(h)
    assert res.verdict == NOT_LINEARIZABLE
    assert "key 'x'" in res.report and "p2 read x 1" in res.report


def test_concurrent_read_may_see_either_value():
    for seen in (1, 2):
        h = [w(0, "x", 1, 0, 1), w(1, "x", 2, 2, 6), r(2, "x", seen, 3, 5)]
        assert check_registers(h).ok


def test_lost_write_is_caught():
    """An acknowledged write that no later read reflects."""
    h = [w(0, "x", 1, 0, 1), w(1, "x", 2, 2, 3), r(2, "x", 1, 10, 11),
         r(2, "x", 1, 12, 13)]
    assert not check_registers(h).ok


def test_reads_that_go_back_in_time_are_caught():
    """Two reads concurrent with one write may not see new then old."""
    h = [w(0, "x", 1, 0, 1), w(1, "x", 2, 2, 20), r(2, "x", 2, 3, 4),
         r(3, "x", 1, 5, 6)]
    assert not check_registers(h).ok


def test_indeterminate_write_may_or_may_not_happen():
    took = [w(0, "x", 1, 0, 1), w(1, "x", 2, 2, 3, "info"), r(2, "x", 2, 9, 10)]
    did_not = [w(0, "x", 1, 0, 1), w(1, "x", 2, 2, 3, "info"),
               r(2, "x", 1, 9, 10)]
    assert check_registers(took).ok
    assert check_registers(did_not).ok


def test_indeterminate_write_takes_effect_at_most_once():
    """Once a later write is seen, an indeterminate write cannot come back
    after it unless it happened after it."""
    h = [w(0, "x", 1, 0, 1, "info"), w(1, "x", 2, 2, 3), r(2, "x", 1, 4, 5),
         r(2, "x", 2, 6, 7)]
    assert not check_registers(h).ok


def test_failed_write_must_not_be_seen():
    h = [w(0, "x", 1, 0, 1), w(1, "x", 2, 2, 3, "fail"), r(2, "x", 2, 4, 5)]
    assert not check_registers(h).ok


def test_keys_are_checked_independently():
    h = [w(0, "x", 1, 0, 1), w(0, "y", 5, 0, 1), r(1, "y", 5, 2, 3),
         r(1, "x", 1, 2, 3), r(1, "y", None, 4, 5)]
    res = check_registers(h)
    assert res.verdict == NOT_LINEARIZABLE and res.key == "y"


def test_exhausted_budget_is_unknown_not_a_pass():
    h = [w(p, "x", p, 0, 100) for p in range(12)] + [r(99, "x", -1, 0, 100)]
    verdict, _ = check_register_key(h, budget=50)
    assert verdict == UNKNOWN
    assert not check_registers(h, budget=50).ok


def _brute_force(ops):
    """Linearizable iff some total order respecting real time is legal.
    Indeterminate writes may be left out; failed ops are left out."""
    ops = [o for o in ops if o.outcome != "fail"]
    sure = [o for o in ops if o.outcome == "ok"]
    maybe = [o for o in ops if o.outcome == "info" and o.kind == "write"]
    for k in range(len(maybe) + 1):
        for chosen in itertools.combinations(maybe, k):
            subset = sure + list(chosen)
            for order in itertools.permutations(subset):
                if _legal(order):
                    return True
    return False


def _legal(order):
    state = None
    for i, op in enumerate(order):
        for later in order[i + 1:]:
            if later.outcome == "ok" and later.complete < op.invoke:
                return False
        if op.kind == "write":
            state = op.value
        elif op.value != state:
            return False
    return True


def test_agrees_with_brute_force_on_random_histories():
    rng = random.Random(20261122)
    disagreements = 0
    seen = {True: 0, False: 0}
    for _ in range(600):
        ops = []
        for p in range(rng.randint(2, 5)):
            t0 = rng.randint(0, 10)
            t1 = t0 + rng.randint(0, 6)
            outcome = rng.choice(["ok"] * 6 + ["info", "fail"])
            if rng.random() < 0.5:
                ops.append(w(p, "x", rng.randint(1, 3), t0, t1, outcome))
            else:
                ops.append(r(p, "x", rng.choice([None, 1, 2, 3]), t0, t1,
                             "ok"))
        expected = _brute_force(ops)
        got = check_register_key(ops)[0]
        assert got != UNKNOWN
        seen[expected] += 1
        if (got == LINEARIZABLE) != expected:
            disagreements += 1
    assert disagreements == 0
    assert seen[True] > 50 and seen[False] > 50  # both kinds exercised


# --- list append -------------------------------------------------------------

def test_append_history_that_is_fine():
    h = [app(0, "k", "a", 0, 1), app(1, "k", "b", 0, 2),
         app(2, "k", "c", 3, 4, "info"), r(3, "k", ["a"], 0, 1),
         r(3, "k", ["a", "b"], 2.5, 3), r(4, "k", ["a", "b", "c"], 5, 6)]
    assert check_list_append(h).ok


def test_duplicated_append_is_caught():
    h = [app(0, "k", "a", 0, 1, "info"), r(1, "k", ["a", "a"], 2, 3)]
    res = check_list_append(h)
    assert not res.ok and "appears twice" in res.report


def test_reordered_append_is_caught():
    h = [app(0, "k", "a", 0, 1), app(1, "k", "b", 2, 3),
         r(2, "k", ["a", "b"], 4, 5), r(3, "k", ["b", "a"], 6, 7)]
    res = check_list_append(h)
    assert not res.ok and "disagree" in res.report


def test_lost_acknowledged_append_is_caught():
    h = [app(0, "k", "a", 0, 1), app(1, "k", "b", 2, 3),
         r(2, "k", ["a"], 4, 5)]
    res = check_list_append(h)
    assert not res.ok and "missing" in res.report


def test_token_that_disappears_is_caught():
    h = [app(0, "k", "a", 0, 1, "info"), r(1, "k", ["a"], 2, 3),
         r(2, "k", [], 4, 5)]
    res = check_list_append(h)
    assert not res.ok and "lost tokens" in res.report


def test_failed_or_unknown_token_is_caught():
    h = [app(0, "k", "a", 0, 1, "fail"), r(1, "k", ["a", "z"], 2, 3)]
    res = check_list_append(h)
    assert "whose append failed" in res.report
    assert "nobody appended" in res.report


def test_memoisation_keeps_wide_concurrency_tractable():
    """Twelve concurrent writes and an impossible read: without caching
    (linearized set, state) the search would walk 12! orderings."""
    h = [w(p, "x", p, 0, 100) for p in range(12)] + [r(99, "x", -1, 0, 100)]
    assert check_register_key(h)[0] == NOT_LINEARIZABLE
