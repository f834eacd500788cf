"""Every key/value command, with Redis's exact replies, against a 3-node
cluster, sent once to the leader and once to a follower (which forwards
writes to the leader and reads through a ReadIndex round)."""

import fnmatch
import threading

import pytest
import redis

from conftest import retry, scaled

I64_MAX = 9223372036854775807
I64_MIN = -9223372036854775808


@pytest.fixture(params=["leader", "follower"])
def via(request, cluster3):
    """(client, node id) for the leader or a follower of the shared
    cluster; keys are prefixed by the test's name so tests do not meet."""
    leader = cluster3.leader()
    i = leader if request.param == "leader" else cluster3.followers(leader)[0]
    return cluster3.client(i), i


@pytest.fixture
def k(request):
    prefix = request.node.name

    def key(name):
        return "%s:%s" % (prefix, name)

    return key


def err(excinfo):
    """redis-py strips the leading "ERR " of an error reply."""
    return str(excinfo.value)


def test_set_get(via, k, cluster3):
    c, _ = via
    assert c.get(k("missing")) is None
    assert c.set(k("a"), "1") is True
    assert c.get(k("a")) == "1"
    assert c.set(k("a"), "two") is True
    assert c.get(k("a")) == "two"
    assert c.set(k("empty"), "") is True
    assert c.get(k("empty")) == ""
    assert c.strlen(k("empty")) == 0
    assert c.set(k("keep"), "v", keepttl=True) is True
    assert c.get(k("keep")) == "v"
    # Binary-safe keys and values.
    b = cluster3.client(via[1], decode_responses=False)
    val = bytes(range(256)) + b"\r\n\x00end"
    key = k("bin\x00\r\n").encode()
    assert b.set(key, val) is True
    assert b.get(key) == val
    assert b.strlen(key) == len(val)


def test_set_nx_xx(via, k):
    c, _ = via
    assert c.set(k("n"), "first", nx=True) is True
    assert c.set(k("n"), "second", nx=True) is None  # nil: not set
    assert c.get(k("n")) == "first"
    assert c.set(k("x"), "v", xx=True) is None  # nil: no such key
    assert c.get(k("x")) is None
    assert c.set(k("n"), "third", xx=True) is True
    assert c.get(k("n")) == "third"
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("SET", k("n"), "v", "NX", "XX")
    assert err(e) == "syntax error"
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("SET", k("n"), "v", "BOGUS")
    assert err(e) == "syntax error"
    assert c.get(k("n")) == "third"


def test_set_expiry_refused(via, k):
    c, _ = via
    for args in (("EX", "10"), ("PX", "100"), ("EXAT", "9999999999"), ("PXAT", "9999999999999")):
        with pytest.raises(redis.ResponseError) as e:
            c.execute_command("SET", k("e"), "v", *args)
        assert err(e) == "EX/PX/EXAT/PXAT are not supported: sampan has no key expiry yet"
    with pytest.raises(redis.ResponseError):
        c.set(k("e"), "v", ex=10)
    assert c.get(k("e")) is None  # nothing was written
    assert c.exists(k("e")) == 0


def test_incr_family(via, k):
    c, _ = via
    assert c.incr(k("n")) == 1
    assert c.incrby(k("n"), 10) == 11
    assert c.decr(k("n")) == 10
    assert c.decrby(k("n"), 3) == 7
    assert c.incrby(k("n"), -7) == 0
    assert c.decrby(k("n"), -5) == 5
    assert c.get(k("n")) == "5"
    assert c.decr(k("neg")) == -1
    assert c.get(k("neg")) == "-1"
    c.set(k("s"), "12")
    assert c.incr(k("s")) == 13
    assert c.get(k("s")) == "13"


def test_incr_errors(via, k):
    c, _ = via
    not_int = "value is not an integer or out of range"
    for bad in ("abc", "1.5", "", " 1", "1 ", "99999999999999999999"):
        c.set(k("bad"), bad)
        with pytest.raises(redis.ResponseError) as e:
            c.incr(k("bad"))
        assert err(e) == not_int, bad
        assert c.get(k("bad")) == bad  # unchanged
    c.set(k("n"), "1")
    for bad in ("x", "1.0", "9223372036854775808", ""):
        with pytest.raises(redis.ResponseError) as e:
            c.execute_command("INCRBY", k("n"), bad)
        assert err(e) == not_int, bad
        with pytest.raises(redis.ResponseError) as e:
            c.execute_command("DECRBY", k("n"), bad)
        assert err(e) == not_int, bad
    assert c.get(k("n")) == "1"
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("INCR")
    assert err(e) == "wrong number of arguments for 'incr' command"
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("INCRBY", k("n"))
    assert err(e) == "wrong number of arguments for 'incrby' command"
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("DECR", k("n"), "1")
    assert err(e) == "wrong number of arguments for 'decr' command"


def test_incr_leading_zero_not_integer(via, k):
    # Redis's string2ll refuses "01", "+1" and "-0": they are not the
    # canonical form of an integer, so INCR answers an error.
    c, _ = via
    for bad in ("01", "+1", "-0"):
        c.set(k("z"), bad)
        with pytest.raises(redis.ResponseError) as e:
            c.incr(k("z"))
        assert err(e) == "value is not an integer or out of range", bad


def test_incr_overflow(via, k):
    c, _ = via
    c.set(k("max"), str(I64_MAX))
    with pytest.raises(redis.ResponseError) as e:
        c.incr(k("max"))
    assert err(e) == "increment or decrement would overflow"
    with pytest.raises(redis.ResponseError) as e:
        c.incrby(k("max"), 2)
    assert err(e) == "increment or decrement would overflow"
    assert c.get(k("max")) == str(I64_MAX)
    assert c.decr(k("max")) == I64_MAX - 1
    c.set(k("min"), str(I64_MIN))
    with pytest.raises(redis.ResponseError) as e:
        c.decr(k("min"))
    assert err(e) == "increment or decrement would overflow"
    assert c.get(k("min")) == str(I64_MIN)
    assert c.incr(k("min")) == I64_MIN + 1
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("DECRBY", k("zero"), str(I64_MIN))
    assert err(e) == "decrement would overflow"
    assert c.execute_command("INCRBY", k("zero"), str(I64_MIN)) == I64_MIN
    assert c.get(k("zero")) == str(I64_MIN)


def test_append_strlen(via, k):
    c, _ = via
    assert c.strlen(k("a")) == 0
    assert c.append(k("a"), "ab") == 2
    assert c.append(k("a"), "cde") == 5
    assert c.append(k("a"), "") == 5
    assert c.get(k("a")) == "abcde"
    assert c.strlen(k("a")) == 5
    c.set(k("n"), "10")
    assert c.append(k("n"), "5") == 3
    assert c.incr(k("n")) == 106
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("STRLEN", k("a"), k("b"))
    assert err(e) == "wrong number of arguments for 'strlen' command"
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("APPEND", k("a"))
    assert err(e) == "wrong number of arguments for 'append' command"


def test_getset_setnx(via, k):
    c, _ = via
    assert c.getset(k("g"), "1") is None
    assert c.get(k("g")) == "1"
    assert c.getset(k("g"), "2") == "1"
    assert c.get(k("g")) == "2"
    assert c.setnx(k("s"), "a") is True  # :1
    assert c.setnx(k("s"), "b") is False  # :0
    assert c.get(k("s")) == "a"
    assert c.execute_command("SETNX", k("s2"), "x") == 1
    assert c.execute_command("SETNX", k("s2"), "y") == 0
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("GETSET", k("g"))
    assert err(e) == "wrong number of arguments for 'getset' command"


def test_mget_mset(via, k):
    c, _ = via
    assert c.mset({k("a"): "1", k("b"): "2", k("c"): "3"}) is True
    assert c.mget([k("a"), k("missing"), k("b"), k("c"), k("a")]) == ["1", None, "2", "3", "1"]
    # The last value of a repeated key wins.
    assert c.execute_command("MSET", k("d"), "x", k("d"), "y") is True
    assert c.get(k("d")) == "y"
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("MSET", k("a"), "1", k("b"))
    assert err(e) == "wrong number of arguments for 'mset' command"
    assert c.get(k("b")) == "2"  # the refused MSET wrote nothing
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("MSET")
    assert err(e) == "wrong number of arguments for 'mset' command"
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("MGET")
    assert err(e) == "wrong number of arguments for 'mget' command"


def test_mset_atomic(via, k, cluster3):
    """Readers on another node never see a half-applied MSET."""
    c, i = via
    keys = [k("atom%d" % j) for j in range(20)]
    c.mset({key: "0" for key in keys})
    other = next(j for j in cluster3.nodes if j != i)
    stop = threading.Event()
    torn = []
    reads = [0]

    def reader():
        r = cluster3.client(other)
        while not stop.is_set():
            vals = retry(lambda: r.mget(keys))
            reads[0] += 1
            if len(set(vals)) != 1:
                torn.append(vals)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for n in range(1, 60):
            c.mset({key: str(n) for key in keys})
    finally:
        stop.set()
        t.join(timeout=scaled(10))
    assert not t.is_alive()
    assert reads[0] > 0
    assert not torn, "torn MSET seen: %r" % torn[:3]
    assert set(c.mget(keys)) == {"59"}


def test_del_exists(via, k):
    c, _ = via
    c.mset({k("a"): "1", k("b"): "2", k("c"): "3"})
    assert c.exists(k("a")) == 1
    assert c.exists(k("a"), k("a"), k("b"), k("missing")) == 3  # repeats count
    assert c.delete(k("a"), k("b"), k("missing")) == 2
    assert c.delete(k("a")) == 0
    assert c.delete(k("c"), k("c")) == 1  # deleted once
    assert c.exists(k("a"), k("b"), k("c")) == 0
    assert c.get(k("a")) is None
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("DEL")
    assert err(e) == "wrong number of arguments for 'del' command"
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("EXISTS")
    assert err(e) == "wrong number of arguments for 'exists' command"


def test_dbsize_keys_scan_flushall(via, cluster3):
    """Whole-keyspace commands; FLUSHALL first, so counts are exact."""
    c, i = via
    assert c.flushall() is True
    assert c.dbsize() == 0
    assert c.keys("*") == []
    assert c.scan(0) == (0, [])
    scan_keys = {"scan:%03d" % j for j in range(137)}
    other_keys = {"other:%d" % j for j in range(50)} | {"sca", "scan", "scan?"}
    items = {key: "v" for key in scan_keys | other_keys}
    names = sorted(items)
    for j in range(0, len(names), 40):
        c.mset({key: items[key] for key in names[j:j + 40]})
    assert c.dbsize() == len(items)

    # SCAN MATCH prefix COUNT n: iterate the cursor back to 0.
    def scan_all(**kw):
        seen = []
        cursor = 0
        for _ in range(1000):
            cursor, batch = c.scan(cursor, **kw)
            seen.extend(batch)
            if cursor == 0:
                return seen
        raise AssertionError("SCAN cursor never returned to 0")

    got = scan_all(match="scan:*", count=7)
    assert len(got) == len(set(got))
    assert set(got) == scan_keys
    got = scan_all(count=11)
    assert sorted(got) == sorted(items)
    for pattern, count in (("scan:1?3", 5), ("*:04*", 1000), ("*", 3), ("s*n", 2)):
        got = scan_all(match=pattern, count=count)
        assert sorted(got) == sorted(key for key in items if fnmatch.fnmatchcase(key, pattern)), pattern
    cursor, batch = c.scan(0, match="scan:*", count=10)
    assert cursor != 0 and 0 < len(batch) <= 10
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("SCAN", "notacursor")
    assert err(e) == "invalid cursor"
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("SCAN", "0", "COUNT", "0")
    assert err(e) == "syntax error"
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("SCAN", "0", "MATCH")
    assert err(e) == "syntax error"

    # KEYS
    assert sorted(c.keys("*")) == sorted(items)
    assert sorted(c.keys("scan:*")) == sorted(scan_keys)
    assert sorted(c.keys("sca?")) == ["scan"]
    assert sorted(c.keys("scan:00[0-2]")) == ["scan:000", "scan:001", "scan:002"]
    assert sorted(c.keys("scan\\?")) == ["scan?"]
    assert c.keys("nomatch*") == []
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("KEYS")
    assert err(e) == "wrong number of arguments for 'keys' command"
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("DBSIZE", "x")
    assert err(e) == "wrong number of arguments for 'dbsize' command"

    # FLUSHALL, seen by every node.
    assert c.execute_command("FLUSHALL") is True
    assert c.dbsize() == 0
    for j in cluster3.nodes:
        r = cluster3.client(j)
        assert r.dbsize() == 0
        assert r.get(names[0]) is None
    assert c.execute_command("FLUSHALL", "ASYNC") is True
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("FLUSHALL", "NOW")
    assert err(e) == "syntax error"


def test_writes_visible_on_every_node(via, k, cluster3):
    c, _ = via
    c.set(k("everywhere"), "yes")
    for j in cluster3.nodes:
        assert cluster3.client(j).get(k("everywhere")) == "yes"


def test_large_values(via, k, cluster3):
    c, i = via
    big = "".join(chr(ord("a") + n % 26) for n in range(1 << 20))  # 1 MiB
    assert c.set(k("big"), big) is True
    assert c.append(k("big"), "!") == len(big) + 1
    for j in cluster3.nodes:
        r = cluster3.client(j)
        assert r.strlen(k("big")) == len(big) + 1
        assert r.get(k("big")) == big + "!"
