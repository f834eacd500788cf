"""Workloads and the recording clients of a black-box run.

Each client owns one RESP connection to one node (clients are spread over
all nodes; a client whose connection broke or could not be opened moves
on to the next node, so clients leave a node that was killed or removed
from the cluster), runs one operation at a time with a timeout, and records it
as a checker.Op with invocation and completion times and an outcome:
- ok: the reply says it happened (reads: the value returned);
- fail: known not applied: the connection could not be opened, so nothing
  was sent, or the server answered TRYAGAIN or BUSY, which promise that
  nothing was done (docs/protocol.md);
- info: indeterminate: a timeout, a broken connection, TIMEOUT, or any
  other error after the request was sent. As in Jepsen, the client's
  process then counts as crashed: the next operations run under a new
  process id, since the old one may still be in flight.

Registers: GET and SET of unique values. List-append: APPEND of unique
tokens (each preceded by a space) and GET, whose value is split into the
token list. Both use a sliding window of keys, so each key's history stays
small enough for the linearizability search to finish.
"""

import asyncio
import collections

from checker import Op
from resp import ProtocolError, RespConn, RespError

KNOWN_NOT_APPLIED = ("TRYAGAIN", "BUSY")


class Workload:
    """Which operation comes next: a key from the current window, read or
    write. `ops_per_key` operations move the window one key on."""

    def __init__(self, name, window=3, ops_per_key=150, read_ratio=0.5):
        assert name in ("register", "append")
        self.name = name
        self.window = window
        self.ops_per_key = ops_per_key
        self.read_ratio = read_ratio
        self.issued = 0
        self.keys = []

    def next_op(self, rng, client, seq):
        """(kind, key, value) of a new operation for this client."""
        base = self.issued // self.ops_per_key
        self.issued += 1
        key = "%s%d" % ("r" if self.name == "register" else "l",
                        base + rng.randrange(self.window))
        if key not in self.keys:
            self.keys.append(key)
        if rng.random() < self.read_ratio:
            return "read", key, None
        value = "%d.%d" % (client, seq)
        return ("write" if self.name == "register" else "append"), key, value

    def command(self, kind, key, value):
        if kind == "read":
            return ("GET", key)
        if kind == "write":
            return ("SET", key, value)
        return ("APPEND", key, " " + value)

    def read_value(self, reply):
        if reply is None:
            return None if self.name == "register" else []
        text = reply.decode()
        return text if self.name == "register" else text.split()


class Stats:
    def __init__(self):
        self.unexpected = []  # replies no operation should get
        self.reasons = collections.Counter()  # why operations failed or were indeterminate


def classify(workload, kind, reply, stats):
    """(outcome, value) of a completed request."""
    if isinstance(reply, RespError):
        stats.reasons["%s %s" % (kind, reply.text[:40])] += 1
        if reply.code in KNOWN_NOT_APPLIED:
            return "fail", None
        return ("fail" if kind == "read" else "info"), None
    if kind == "read":
        if reply is None or isinstance(reply, bytes):
            return "ok", workload.read_value(reply)
    elif kind == "write" and reply == "OK":
        return "ok", None
    elif kind == "append" and isinstance(reply, int):
        return "ok", None
    stats.unexpected.append("%s got the reply %r" % (kind, reply))
    return "info", None


class Clients:
    """The recording clients of a run; `history` holds every Op."""

    def __init__(self, db, workload, rng, count, timeout, mean_gap, t0,
                 local_reads=False):
        self.db = db
        self.local_reads = local_reads  # READONLY: stale reads, on purpose
        self.workload = workload
        self.rng = rng
        self.count = count
        self.timeout = timeout
        self.mean_gap = mean_gap
        self.t0 = t0
        self.history = []
        self.stats = Stats()
        self.next_process = count

    def now(self):
        return asyncio.get_running_loop().time() - self.t0

    async def run(self, until):
        await asyncio.gather(*(self._client(c, until) for c in range(self.count)))

    async def _client(self, cid, until):
        nodes = sorted(self.db.nodes)
        at = cid % len(nodes)
        process, seq, conn = cid, 0, None
        while self.now() < until:
            port = self.db.nodes[nodes[at]].port
            seq += 1
            kind, key, value = self.workload.next_op(self.rng, cid, seq)
            op = Op(process, kind, key, value, self.now(), 0.0, "fail")
            self.history.append(op)
            if conn is None:
                try:
                    conn = await RespConn.open(port, 1.0)
                    if self.local_reads:
                        await conn.call("READONLY", timeout=1.0)
                except (OSError, asyncio.TimeoutError) as e:
                    self.stats.reasons["connect: %s" % type(e).__name__] += 1
                    op.complete = self.now()  # nothing was sent
                    at = (at + 1) % len(nodes)
                    await asyncio.sleep(0.1)
                    continue
            try:
                reply = await conn.call(*self.workload.command(kind, key, value),
                                        timeout=self.timeout)
                op.outcome, read = classify(self.workload, kind, reply, self.stats)
            except (OSError, asyncio.TimeoutError, ProtocolError, ValueError) as e:
                self.stats.reasons["%s: %s" % (kind, type(e).__name__)] += 1
                conn.close()
                conn = None
                at = (at + 1) % len(nodes)
                op.outcome, read = "info", None
            op.complete = self.now()
            if kind == "read":
                op.value = read
            if op.outcome == "info" and kind != "read":
                process = self.next_process  # the old one may still act
                self.next_process += 1
            await asyncio.sleep(self.rng.uniform(0, 2 * self.mean_gap))
        if conn is not None:
            conn.close()

    async def final_reads(self, deadline, nodes=None):
        """After healing: one successful read of every key used, through
        any of `nodes` (default: every node; the cluster's members when
        membership changed); attempts that fail are recorded as failed
        reads. Returns the keys that could not be read before the deadline."""
        unread = []
        process = self.next_process
        self.next_process += 1
        nodes = sorted(nodes or self.db.nodes)
        for key in self.workload.keys:
            while True:
                if self.now() > deadline:
                    unread.append(key)
                    break
                port = self.db.nodes[self.rng.choice(nodes)].port
                op = Op(process, "read", key, None, self.now(), 0.0, "fail")
                self.history.append(op)
                try:
                    conn = await RespConn.open(port, 1.0)
                    try:
                        reply = await conn.call("GET", key, timeout=self.timeout)
                    finally:
                        conn.close()
                    op.outcome, op.value = classify(self.workload, "read", reply,
                                                    self.stats)
                except (OSError, asyncio.TimeoutError, ProtocolError, ValueError):
                    op.outcome = "info"
                op.complete = self.now()
                if op.outcome == "ok":
                    break
                await asyncio.sleep(0.1)
        return unread
