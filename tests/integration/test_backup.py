"""Backup and restore: `sampan snapshot save` from a live cluster while
writes continue, `snapshot restore` into a brand-new cluster (new data
directories, new ports), and the new cluster holding exactly the saved
state; damaged backup files and non-empty data directories refused with
clear errors; the SNAPSHOT commands' replies and limits."""

import os
import re
import subprocess
import threading

import pytest
import redis

from conftest import (SAMPAN_BIN, Cluster, Node, RawConn, _finalize, free_ports,
                      scaled)

BASE_KEYS = 3000
VALUE_BYTES = 1000  # 3 MB of state: several 1 MiB SNAPSHOT READ chunks


def sampan(*args, timeout=60):
    return subprocess.run([SAMPAN_BIN] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=scaled(timeout))


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


@pytest.fixture
def restored(tmp_path, request):
    """A second, not yet declared Cluster (its own cluster id); everything
    it starts is killed."""
    c = Cluster(tmp_path / "restored", cluster_id=8)
    yield c
    _finalize(c, request.node)


def declare(c, n):
    """Ports and data directory paths for nodes 1..n of c, nothing created
    or started; returns the --peers value."""
    ports = free_ports(2 * n)
    os.makedirs(c.root, exist_ok=True)
    for i in range(1, n + 1):
        c.nodes[i] = Node(i, ports[2 * i - 2], ports[2 * i - 1], os.path.join(c.root, "node%d" % i),
                          os.path.join(c.root, "node%d.log" % i))
    return ",".join("%d=127.0.0.1:%d" % (i, c.nodes[i].peer_port) for i in sorted(c.nodes))


def save(path, port):
    r = sampan("snapshot", "save", path, "--addr", "127.0.0.1:%d" % port)
    assert r.returncode == 0, r.stderr
    m = re.match(r"saved .*: index (\d+), term (\d+), (\d+) keys, (\d+) bytes", r.stdout)
    assert m, r.stdout
    return [int(x) for x in m.groups()]


def small_backup(cluster, path, keys=50):
    cluster.start(1)
    c = cluster.client(1)
    for i in range(keys):
        c.set("k%d" % i, "v%d" % i)
    return save(path, cluster.port(1))


def test_save_while_writing_then_restore_into_a_new_cluster(cluster, restored, tmp_path):
    cluster.start(3, snapshot_every=500)  # the source compacts its log meanwhile
    leader = cluster.leader()
    follower = cluster.followers(leader)[0]
    c = cluster.client(leader)
    value = lambda i: ("v%d-" % i).ljust(VALUE_BYTES, "x")  # noqa: E731
    for start in range(0, BASE_KEYS, 500):
        p = c.pipeline(transaction=False)
        for i in range(start, start + 500):
            p.set("k%d" % i, value(i))
        p.execute()

    # A writer keeps writing w0, w1, ... in order while the save runs.
    acked = []
    stop = threading.Event()
    errors = []

    def writer():
        w = cluster.client(leader)
        j = 0
        while not stop.is_set():
            try:
                w.set("w%d" % j, str(j))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return
            acked.append(j)
            j += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        while len(acked) < 50:
            threading.Event().wait(0.01)
        acked_before = len(acked)  # w0 .. w(acked_before-1) acknowledged
        path = str(tmp_path / "backup.snap")
        index, term, keys, nbytes = save(path, cluster.port(follower))
        threading.Event().wait(0.2)  # a few writes after the save too
    finally:
        stop.set()
        t.join()
    assert not errors, errors
    attempted = len(acked) + 1
    assert nbytes > 2 * (1 << 20)  # several READ chunks

    st = sampan("snapshot", "status", path)
    assert st.returncode == 0, st.stderr
    assert "checksum ok" in st.stdout
    assert re.search(r"^index:\s+%d$" % index, st.stdout, re.M), st.stdout
    assert re.search(r"^keys:\s+%d$" % keys, st.stdout, re.M), st.stdout
    members = ", ".join("%d (127.0.0.1:%d)" % (i, cluster.nodes[i].peer_port) for i in (1, 2, 3))
    assert "\nmembers: voters %s\n" % members in st.stdout, st.stdout

    # A brand-new cluster: new ports, new directories (node 1's exists and
    # is empty, the others do not exist yet), every node from the same file.
    peers = declare(restored, 3)
    os.makedirs(restored.nodes[1].data_dir)
    for i in restored.nodes:
        r = sampan("snapshot", "restore", path, "--data-dir", restored.nodes[i].data_dir,
                   "--id", i, "--peers", peers)
        assert r.returncode == 0, r.stderr
        assert "index %d, term %d, %d keys" % (index, term, keys) in r.stdout
    for i in restored.nodes:
        restored.restart(i, wait=False)
    for i in restored.nodes:
        restored.wait_listening(i)
    restored.wait_ready()  # writes __ready__=1, which the source holds too

    rc = restored.client(restored.leader())
    assert rc.dbsize() == keys
    for start in range(0, BASE_KEYS, 500):
        names = ["k%d" % i for i in range(start, start + 500)]
        assert rc.mget(names) == [value(i) for i in range(start, start + 500)]
    ws = sorted(int(k[1:]) for k in rc.keys("w*"))
    # A prefix of the writer's sequence (the state as of one log index),
    # holding every write acknowledged before the save began.
    assert ws == list(range(len(ws))), ws[:10]
    assert acked_before <= len(ws) <= attempted, (acked_before, len(ws), attempted)
    assert rc.mget(["w%d" % j for j in ws]) == [str(j) for j in ws]
    assert set(rc.keys("*")) == {"k%d" % i for i in range(BASE_KEYS)} | \
        {"w%d" % j for j in ws} | {"__ready__"}
    for i in restored.nodes:
        info = restored.info(i)
        assert int(info["snapshot_index"]) == index
        assert int(info["applied_index"]) >= index
        assert int(info["term"]) > term
    # The new cluster takes writes and replicates them everywhere.
    rc.set("after-restore", "yes")
    for i in restored.nodes:
        assert restored.client(i).get("after-restore") == "yes"
    assert cluster.client(leader).get("after-restore") is None  # still apart


def expect_refused(path, what, tmp_path):
    st = sampan("snapshot", "status", path)
    assert st.returncode == 1, (st.stdout, st.stderr)
    assert path in st.stderr and what in st.stderr, st.stderr
    target = str(tmp_path / "never")
    r = sampan("snapshot", "restore", path, "--data-dir", target, "--id", 1,
               "--peers", "1=127.0.0.1:1")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert path in r.stderr and what in r.stderr, r.stderr
    assert not os.path.exists(target) and not os.path.exists(target + ".restoring")


def test_damaged_backup_files_are_refused(cluster, tmp_path):
    good = str(tmp_path / "good.snap")
    small_backup(cluster, good)
    data = open(good, "rb").read()
    conf_len = int.from_bytes(data[12:16], "little")
    cases = {
        "empty": (b"", "empty file"),
        "cut5": (data[:5], "truncated"),
        "cut40": (data[:40], "truncated"),
        "cut-header": (data[:48 + conf_len - 1], "truncated"),
        "cut-state": (data[:len(data) - 10], "truncated"),
        "cut1": (data[:-1], "truncated"),
        "longer": (data + b"\0", "bytes past the end"),
        "magic": (b"X" + data[1:], "not a sampan backup file"),
        "version": (data[:8] + (2).to_bytes(4, "little") + data[12:], "unsupported backup format version 2"),
        "state-bit": (data[:200] + bytes([data[200] ^ 1]) + data[201:], "checksum mismatch"),
        "crc": (data[:-1] + bytes([data[-1] ^ 0x80]), "checksum mismatch"),
        "text": (b"hello, world\n", "not a sampan backup file"),
    }
    for name, (content, what) in cases.items():
        path = str(tmp_path / ("%s.snap" % name))
        with open(path, "wb") as f:
            f.write(content)
        expect_refused(path, what, tmp_path)
    # A configuration that does not decode, checksum re-sealed.
    body = bytearray(data[:-4])
    body[48] ^= 0xFF  # the configuration's format version
    path = str(tmp_path / "conf.snap")
    with open(path, "wb") as f:
        f.write(bytes(body) + crc32c(bytes(body)).to_bytes(4, "little"))
    expect_refused(path, "the configuration does not decode", tmp_path)
    # A header whose index disagrees with the state, checksum re-sealed:
    # the file is whole, but restore checks the state as the node would.
    body = bytearray(data[:-4])
    body[16:24] = (int.from_bytes(body[16:24], "little") + 1).to_bytes(8, "little")
    path = str(tmp_path / "index.snap")
    with open(path, "wb") as f:
        f.write(bytes(body) + crc32c(bytes(body)).to_bytes(4, "little"))
    assert sampan("snapshot", "status", path).returncode == 0
    target = str(tmp_path / "never")
    r = sampan("snapshot", "restore", path, "--data-dir", target, "--id", 1,
               "--peers", "1=127.0.0.1:1")
    assert r.returncode == 1 and "the header says index" in r.stderr, r.stderr
    assert not os.path.exists(target) and not os.path.exists(target + ".restoring")
    # The good one still is.
    assert sampan("snapshot", "status", good).returncode == 0


def test_restore_refuses_a_non_empty_directory_and_bad_flags(cluster, tmp_path):
    path = str(tmp_path / "b.snap")
    small_backup(cluster, path)
    d = tmp_path / "occupied"
    d.mkdir()
    (d / "keep").write_text("mine")
    r = sampan("snapshot", "restore", path, "--data-dir", str(d), "--id", 1,
               "--peers", "1=127.0.0.1:1")
    assert r.returncode == 1 and "is not empty" in r.stderr, r.stderr
    assert os.listdir(str(d)) == ["keep"] and (d / "keep").read_text() == "mine"
    # A node's live data directory, even more so.
    r = sampan("snapshot", "restore", path, "--data-dir", cluster.nodes[1].data_dir, "--id", 1,
               "--peers", "1=127.0.0.1:1")
    assert r.returncode == 1 and "is not empty" in r.stderr, r.stderr
    target = str(tmp_path / "new")
    for args in (["--data-dir", target, "--id", 1],
                 ["--data-dir", target, "--peers", "1=127.0.0.1:1"],
                 ["--id", 1, "--peers", "1=127.0.0.1:1"],
                 ["--data-dir", target, "--id", 4, "--peers", "1=127.0.0.1:1,2=127.0.0.1:2"],
                 ["--data-dir", target, "--id", 1, "--peers", "1=nowhere"],
                 ["--data-dir", target, "--id", 1, "--peers", "1=127.0.0.1:1", "--bogus", "x"]):
        r = sampan("snapshot", "restore", path, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert not os.path.exists(target)
    r = sampan("snapshot", "restore", str(tmp_path / "missing.snap"), "--data-dir", target,
               "--id", 1, "--peers", "1=127.0.0.1:1")
    assert r.returncode == 1 and "missing.snap: cannot open" in r.stderr, r.stderr
    assert sampan("snapshot", "bogus").returncode == 2
    assert sampan("snapshot").returncode == 2
    assert sampan("snapshot", "status").returncode == 2
    # Saving from nowhere, or into a directory that does not exist.
    port = free_ports(1)[0]
    r = sampan("snapshot", "save", str(tmp_path / "x.snap"), "--addr", "127.0.0.1:%d" % port)
    assert r.returncode == 1 and "127.0.0.1:%d" % port in r.stderr, r.stderr
    r = sampan("snapshot", "save", str(tmp_path / "no" / "x.snap"), "--addr",
               "127.0.0.1:%d" % cluster.port(1))
    assert r.returncode == 1 and "cannot create" in r.stderr, r.stderr
    assert not os.path.exists(str(tmp_path / "x.snap"))


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
