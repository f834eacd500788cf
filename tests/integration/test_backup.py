"""Backup and restore: the SNAPSHOT commands' replies and limits."""

import pytest
import redis

from conftest import RawConn


def test_snapshot_commands(cluster):
    cluster.start(1)
    cluster.client(1).set("a", "1")
    s = RawConn(cluster.port(1))

    def cmd(*args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.send(out)
        return s.read_reply()

    try:
        assert cmd("SNAPSHOT")[1].startswith("ERR SNAPSHOT takes BEGIN")
        assert cmd("SNAPSHOT", "NOPE")[1].startswith("ERR SNAPSHOT takes BEGIN")
        assert cmd("SNAPSHOT", "READ", "abc")[1].startswith("ERR snapshot handle must be")
        assert cmd("SNAPSHOT", "READ", "999")[1].startswith("ERR no such snapshot handle")
        begun = cmd("snapshot", "begin")
        handle, index, term, conf, nbytes, keys = begun
        assert index >= 2 and term >= 1 and keys == 2 and isinstance(conf, bytes)  # a, __ready__
        state = b""
        while True:
            chunk = cmd("SNAPSHOT", "READ", handle)
            if chunk == b"":
                break
            state += chunk
        assert len(state) == nbytes and state.startswith(b"SAMPANKV")
        assert cmd("SNAPSHOT", "READ", handle) == b""  # the end stays the end
        assert cmd("SNAPSHOT", "END", handle) == "OK"
        assert cmd("SNAPSHOT", "READ", handle)[1].startswith("ERR no such snapshot handle")
        # At most four transfers at once.
        handles = [cmd("SNAPSHOT", "BEGIN")[0] for _ in range(4)]
        busy = cmd("SNAPSHOT", "BEGIN")
        assert busy[1].startswith("BUSY too many snapshot transfers"), busy
        assert cmd("SNAPSHOT", "END", handles[0]) == "OK"
        handles[0] = cmd("SNAPSHOT", "BEGIN")[0]
        assert len(set(handles)) == 4
        for h in handles:
            assert cmd("SNAPSHOT", "END", h) == "OK"
        # The node goes on serving, and redis-py sees the same commands.
        c = cluster.client(1, decode_responses=False)
        h = c.execute_command("SNAPSHOT", "BEGIN")[0]
        assert c.execute_command("SNAPSHOT", "READ", h).startswith(b"SAMPANKV")
        assert c.execute_command("SNAPSHOT", "END", h) == b"OK"
        with pytest.raises(redis.exceptions.ResponseError):
            c.execute_command("SNAPSHOT", "END", h)
    finally:
        s.close()
