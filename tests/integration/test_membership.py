"""tests/integration/test_membership.py: membership changes on real
processes, through the `sampan member` / `transfer-leader` CLI and
`sampan serve --join`: growing 3 -> 5 under client load with no failed or
lost write, removing the leader, replacing a killed node with a fresh one,
learners, leadership transfer, and the refusals an operator can run into.
"""

import os
import threading
import time

import redis

from conftest import check_keys, retry, scaled, wait_until


def members(cluster, via):
    """MEMBER LIST of node `via` as {id: {"role": .., "addr": .., ...}}."""
    out = {}
    for line in cluster.client(via).execute_command("MEMBER", "LIST"):
        fields = dict(kv.split("=", 1) for kv in line.split())
        out[int(fields.pop("id"))] = fields
    return out


def voters(cluster, via):
    return sorted(i for i, m in members(cluster, via).items() if m["role"] == "voter")


def cli_ok(cluster, *args):
    p = cluster.cli(*args)
    assert p.returncode == 0, "sampan %s failed (%d): %s%s" % (
        " ".join(map(str, args)), p.returncode, p.stdout, p.stderr)
    return p.stdout


def add_and_join(cluster, new_id, via):
    """`sampan member add` then `sampan serve --join`: the documented way."""
    node = cluster.new_node(new_id, join=via)
    cli_ok(cluster, "member", "add", new_id, "127.0.0.1:%d" % node.peer_port,
           "--addr", "127.0.0.1:%d" % cluster.port(via))
    cluster._spawn(new_id)
    cluster.wait_listening(new_id)
    # Joins as a learner and is promoted by the leader once caught up.
    wait_until(lambda: new_id in voters(cluster, via), 15,
               what="node %d promoted to voter" % new_id)


class Writer:
    """Writes unique keys through a rotating set of nodes until stopped;
    every error is recorded (the test demands none), every acknowledged
    write is remembered."""

    def __init__(self, cluster, via):
        self.cluster = cluster
        self.via = list(via)
        self.acked = {}
        self.errors = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        clients = [self.cluster.client(i) for i in self.via]
        n = 0
        while not self.stop.is_set():
            key, value = "load:%d" % n, "v%d" % n
            try:
                clients[n % len(clients)].set(key, value)
                self.acked[key] = value
            except redis.exceptions.RedisError as exc:
                self.errors.append("%s: %r" % (key, exc))
            n += 1
            time.sleep(0.002)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=scaled(15))


def seed_keys(cluster, n):
    """Writes k0..k{n-1} through node 1; returns them, and a follower."""
    c = cluster.client(1)
    for i in range(n):
        retry(lambda: c.set("k%d" % i, "v%d" % i))
    follower = [i for i in (1, 2, 3) if i != cluster.leader()][0]
    return {"k%d" % i: "v%d" % i for i in range(n)}, follower


def test_grow_three_to_five_under_load(cluster):
    cluster.start(3)
    with Writer(cluster, [1, 2, 3]) as w:
        time.sleep(0.3)
        add_and_join(cluster, 4, via=2)
        add_and_join(cluster, 5, via=3)
        time.sleep(0.3)
    assert len(w.acked) > 100, "the writer barely ran: %d writes" % len(w.acked)
    assert not w.errors, "writes failed while the cluster grew: %r" % w.errors[:5]
    for via in (1, 4, 5):
        wait_until(lambda: voters(cluster, via) == [1, 2, 3, 4, 5], 5,
                   what="node %d to see five voters" % via)
    info = cluster.info(5)
    assert info["members"] == "1,2,3,4,5" and info["joint"] == "no"
    for node in (4, 5):
        check_keys(cluster, node, w.acked)
    # Five voters: two may fail and the rest still commit.
    cluster.kill9(1)
    cluster.kill9(2)
    retry(lambda: cluster.client(5).set("after", "two down"), timeout=10)
    assert retry(lambda: cluster.client(4).get("after"), timeout=5) == "two down"


def test_remove_the_leader(cluster):
    cluster.start(3)
    c = cluster.client(1)
    retry(lambda: c.set("before", "1"))
    old = cluster.leader()
    rest = [i for i in (1, 2, 3) if i != old]
    cli_ok(cluster, "member", "remove", old, "--addr", "127.0.0.1:%d" % cluster.port(rest[0]))
    # It steps down once the change commits, says so, and exits cleanly.
    code = cluster.nodes[old].proc.wait(timeout=scaled(10))
    assert code == 0, cluster.log_tail(old)
    with open(cluster.nodes[old].log_path, "rb") as f:
        assert b"removed from the cluster" in f.read()
    new = cluster.leader(exclude=(old,))
    assert new in rest
    wait_until(lambda: voters(cluster, rest[0]) == rest, 5, what="two voters left")
    retry(lambda: cluster.client(rest[1]).set("after", "2"), timeout=10)
    assert retry(lambda: cluster.client(rest[0]).get("before")) == "1"
    # Its stale data refuses to rejoin.
    cluster._spawn(old)
    assert cluster.nodes[old].proc.wait(timeout=scaled(10)) == 1
    with open(cluster.nodes[old].log_path, "rb") as f:
        assert b"was removed from its cluster" in f.read()


def test_replace_a_killed_node(cluster):
    cluster.start(3)
    written, victim = seed_keys(cluster, 200)
    survivor = [i for i in (1, 2, 3) if i != victim][0]
    cluster.kill9(victim)
    cli_ok(cluster, "member", "remove", victim, "--addr", "127.0.0.1:%d" % cluster.port(survivor))
    add_and_join(cluster, 4, via=survivor)
    want = sorted([i for i in (1, 2, 3) if i != victim] + [4])
    wait_until(lambda: voters(cluster, 4) == want, 5, what="node 4 to see the new voters")
    check_keys(cluster, 4, written)
    # The replacement counts: with it, one more failure is survivable.
    other = [i for i in (1, 2, 3) if i not in (victim, cluster.leader())]
    if other:
        cluster.kill9(other[0])
    retry(lambda: cluster.client(4).set("after", "x"), timeout=10)


def test_learner_then_promote(cluster):
    cluster.start(3)
    node = cluster.new_node(4, join=1)
    cli_ok(cluster, "member", "add", 4, "127.0.0.1:%d" % node.peer_port, "--learner",
           "--addr", "127.0.0.1:%d" % cluster.port(1))
    cluster._spawn(4)
    cluster.wait_listening(4)
    retry(lambda: cluster.client(2).set("x", "1"))
    # A learner receives the log (and serves linearizable reads) ...
    assert retry(lambda: cluster.client(4).get("x"), timeout=10) == "1"
    wait_until(lambda: members(cluster, 1)[4]["role"] == "learner", 5, what="4 a learner")
    time.sleep(0.5)
    # ... but is never promoted by itself, and never leads.
    assert members(cluster, 1)[4]["role"] == "learner"
    assert cluster.info(4)["role"] == "follower"
    cli_ok(cluster, "member", "promote", 4, "--addr", "127.0.0.1:%d" % cluster.port(3))
    wait_until(lambda: voters(cluster, 2) == [1, 2, 3, 4], 5, what="node 2 to see 4 promoted")
    cli_ok(cluster, "member", "demote", 4, "--addr", "127.0.0.1:%d" % cluster.port(2))
    wait_until(lambda: members(cluster, 1)[4]["role"] == "learner", 5, what="4 demoted")
    # Removed, it stops; the others hang up on it some election timeouts
    # later, freeing its transport slot.
    cli_ok(cluster, "member", "remove", 4, "--addr", "127.0.0.1:%d" % cluster.port(1))
    assert cluster.nodes[4].proc.wait(timeout=scaled(10)) == 0

    def hung_up():
        with open(cluster.nodes[1].log_path, "rb") as f:
            return b"no longer dialing former member 4" in f.read()

    wait_until(hung_up, 10, what="node 1 to hang up on node 4")


def test_transfer_leader_cli(cluster):
    cluster.start(3)
    old = cluster.leader()
    target = [i for i in (1, 2, 3) if i != old][0]
    via = [i for i in (1, 2, 3) if i not in (old, target)][0]
    # Asked of a follower that is not the target: forwarded to the leader.
    cli_ok(cluster, "transfer-leader", target, "--addr", "127.0.0.1:%d" % cluster.port(via))
    assert cluster.leader() == target
    retry(lambda: cluster.client(via).set("after-transfer", "1"))


def test_refusals(cluster):
    cluster.start(3)
    addr = "127.0.0.1:%d" % cluster.port(1)
    p = cluster.cli("member", "remove", 9, "--addr", addr)
    assert p.returncode == 1 and "no such member" in p.stderr
    p = cluster.cli("member", "add", 9, "not-an-address", "--addr", addr)
    assert p.returncode == 1 and "HOST:PORT" in p.stderr
    p = cluster.cli("member", "add", "zero", "127.0.0.1:1", "--addr", addr)
    assert p.returncode == 2
    p = cluster.cli("transfer-leader", 9, "--addr", "127.0.0.1:%d" % cluster.port(cluster.leader()))
    assert p.returncode == 1 and "not a voter" in p.stderr
    # Removing voters one by one never removes the last one.
    ld = cluster.leader()
    for i in (1, 2, 3):
        if i != ld:
            cli_ok(cluster, "member", "remove", i, "--addr", "127.0.0.1:%d" % cluster.port(ld))
    p = cluster.cli("member", "remove", ld, "--addr", "127.0.0.1:%d" % cluster.port(ld))
    assert p.returncode == 1 and "not allowed" in p.stderr
    # A node that was never added cannot join.
    node = cluster.new_node(7, join=ld)
    cluster._spawn(7)
    assert node.proc.wait(timeout=scaled(20)) == 1
    with open(node.log_path, "rb") as f:
        assert b"not a member; add it first" in f.read()


def test_recover_a_node_whose_disk_was_corrupted(cluster):
    """docs/operations.md "A node whose disk was corrupted": it refuses to
    start; remove it, set its data aside, add it again, start it with
    --join; it catches up from the others."""
    cluster.start(3)
    written, victim = seed_keys(cluster, 300)
    via = [i for i in (1, 2, 3) if i != victim][0]
    cluster.stop(victim)
    d = cluster.nodes[victim].data_dir
    wal = sorted(f for f in os.listdir(d) if f.startswith("wal-"))[0]
    with open(os.path.join(d, wal), "r+b") as f:
        f.seek(512 + 40)  # inside the first batch: later batches follow
        b = f.read(1)
        f.seek(512 + 40)
        f.write(bytes([b[0] ^ 0xFF]))
    cluster._spawn(victim)
    assert cluster.nodes[victim].proc.wait(timeout=scaled(10)) == 1
    with open(cluster.nodes[victim].log_path, "rb") as f:
        assert b"cannot start" in f.read()
    # The documented sequence.
    cli_ok(cluster, "member", "remove", victim, "--addr", "127.0.0.1:%d" % cluster.port(via))
    os.rename(d, d + ".broken")
    cli_ok(cluster, "member", "add", victim, "127.0.0.1:%d" % cluster.nodes[victim].peer_port,
           "--addr", "127.0.0.1:%d" % cluster.port(via))
    cluster.nodes[victim].join = cluster.port(via)
    cluster._spawn(victim)
    cluster.wait_listening(victim)
    wait_until(lambda: voters(cluster, via) == [1, 2, 3], 15, what="the node promoted again")
    check_keys(cluster, victim, written)
