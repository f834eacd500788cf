"""tests/integration/conftest.py: real `sampan serve` clusters over loopback.

The Cluster class starts, stops, kills and wipes node processes; every
process it starts is kept by its Popen handle and killed (and waited for)
when the fixture finalizes, whatever the test's outcome. Ports are probed
by binding port 0 on 127.0.0.1, each node has its own data directory under
the test's temp dir, and every wait is bounded by a deadline.

SAMPAN_BIN names the binary (default: build/bin/sampan under the source
tree). SAMPAN_TEST_SLOW multiplies every timeout (the ASan build is slower;
it is detected from the binary and scaled automatically).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import redis

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "pylib"))
from sampan_testlib import (free_ports, is_sanitizer_build,  # noqa: E402,F401
                            parse_info, sanitizer_lines)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPAN_BIN = os.environ.get("SAMPAN_BIN") or os.path.join(ROOT, "build", "bin", "sampan")

ELECTION_MS = 300
HEARTBEAT_MS = 50
TICK_MS = 10


SLOW = float(os.environ.get("SAMPAN_TEST_SLOW") or (3.0 if is_sanitizer_build(SAMPAN_BIN) else 1.0))


def scaled(seconds):
    """A timeout, scaled for slow (sanitizer) builds."""
    return seconds * SLOW


RETRYABLE_PREFIXES = ("TRYAGAIN", "TIMEOUT", "BUSY")


def is_retryable(exc):
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return True
    if isinstance(exc, redis.exceptions.ResponseError):
        return str(exc).startswith(RETRYABLE_PREFIXES)
    return False


def retry(fn, timeout=5.0, interval=0.05):
    """Calls fn() until it returns without a retryable error (TRYAGAIN,
    TIMEOUT, BUSY, connection trouble), for at most `timeout` (scaled)
    seconds; then re-raises the last error."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - filtered just below
            if not is_retryable(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(interval)


def wait_until(pred, timeout=5.0, interval=0.05, what="condition"):
    """Polls pred() until it is truthy (returns its value) or fails the test
    after `timeout` (scaled) seconds."""
    deadline = time.monotonic() + scaled(timeout)
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as exc:  # noqa: BLE001 - reported on timeout
            last_exc = exc
        if time.monotonic() >= deadline:
            raise AssertionError(
                "timed out after %.1fs waiting for %s (last error: %r)"
                % (scaled(timeout), what, last_exc))
        time.sleep(interval)


def check_keys(cluster, i, expected):
    """Node i (through a linearizable MGET) has every expected key."""
    c = cluster.client(i)
    keys = sorted(expected)
    for j in range(0, len(keys), 200):
        chunk = keys[j:j + 200]
        got = retry(lambda: c.mget(chunk), timeout=10)
        missing = [(k, expected[k], v) for k, v in zip(chunk, got) if v != expected[k]]
        assert not missing, "node %d lost acknowledged writes: %r" % (i, missing[:5])


class RawConn:
    """A bare socket speaking RESP, for what redis-py hides (inline
    commands, protocol errors, exact reply bytes)."""

    def __init__(self, port, timeout=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout or scaled(5))
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by the server")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_reply(self):
        """One reply: str for +simple, ('ERR', text) tuple for errors,
        int, bytes or None for bulk, list for arrays."""
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return ("ERR", rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read_reply() for _ in range(n)]
        raise AssertionError("bad reply line %r" % line)

    def closed_by_peer(self, timeout=None):
        """True when the server closes the connection (EOF) within
        timeout, with nothing more to read."""
        self.sock.settimeout(timeout or scaled(3))
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True


class Node:
    def __init__(self, idx, port, peer_port, data_dir, log_path):
        self.id = idx
        self.port = port
        self.peer_port = peer_port
        self.data_dir = data_dir
        self.log_path = log_path
        self.proc = None
        self.log = None
        self.join = None  # a member's client port: start with --join

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    """Nodes are numbered from 1 (their Raft ids)."""

    def __init__(self, root, **opts):
        self.root = str(root)
        self.nodes = {}
        self.opts = dict(opts)
        self.all_procs = []  # every Popen ever started, for the finalizer
        self.clients = []

    # ---- processes -------------------------------------------------------

    def start(self, n, **opts):
        """Starts an n-node cluster (ids 1..n) and waits for a leader that
        takes writes. Options: snapshot_every, max_clients,
        request_timeout_ms, election_ms, heartbeat_ms, write_wait_ms."""
        self.opts.update(opts)
        ports = free_ports(2 * n)
        for i in range(1, n + 1):
            d = os.path.join(self.root, "node%d" % i)
            os.makedirs(d, exist_ok=True)
            self.nodes[i] = Node(i, ports[2 * (i - 1)], ports[2 * (i - 1) + 1], d,
                                 os.path.join(self.root, "node%d.log" % i))
        for i in self.nodes:
            self._spawn(i)
        for i in self.nodes:
            self.wait_listening(i)
        self.wait_ready()
        return self

    def _args(self, i):
        node = self.nodes[i]
        peers = ",".join("%d=127.0.0.1:%d" % (j, self.nodes[j].peer_port) for j in sorted(self.nodes))
        o = self.opts
        members = (["--join", "127.0.0.1:%d" % node.join] if node.join is not None
                   else ["--peers", peers])
        args = [SAMPAN_BIN, "serve",
                "--id", str(i),
                "--data-dir", node.data_dir,
                "--listen", "127.0.0.1:%d" % node.port,
                "--peer-listen", "127.0.0.1:%d" % node.peer_port] + members + [
                "--cluster-id", str(o.get("cluster_id", 7)),
                "--election-ms", str(o.get("election_ms", ELECTION_MS)),
                "--heartbeat-ms", str(o.get("heartbeat_ms", HEARTBEAT_MS)),
                "--tick-ms", str(o.get("tick_ms", TICK_MS)),
                "--request-timeout-ms", str(o.get("request_timeout_ms", int(scaled(2000))))]
        if "snapshot_every" in o:
            args += ["--snapshot-every", str(o["snapshot_every"])]
        if "max_clients" in o:
            args += ["--max-clients", str(o["max_clients"])]
        if "write_wait_ms" in o:
            args += ["--write-wait-ms", str(o["write_wait_ms"])]
        return args

    def _spawn(self, i):
        node = self.nodes[i]
        assert not node.alive(), "node %d already running" % i
        if not os.path.exists(SAMPAN_BIN):
            pytest.fail("no sampan binary at %s (build it, or set SAMPAN_BIN)" % SAMPAN_BIN)
        os.makedirs(node.data_dir, exist_ok=True)
        node.log = open(node.log_path, "ab")
        node.log.write(("---- start: %s\n" % " ".join(self._args(i))).encode())
        node.log.flush()
        node.proc = subprocess.Popen(self._args(i), stdin=subprocess.DEVNULL,
                                     stdout=node.log, stderr=subprocess.STDOUT)
        self.all_procs.append(node.proc)

    def wait_listening(self, i, timeout=5.0):
        node = self.nodes[i]

        def ok():
            if node.proc.poll() is not None:
                raise AssertionError("node %d exited with %s before listening:\n%s"
                                     % (i, node.proc.returncode, self.log_tail(i)))
            try:
                socket.create_connection(("127.0.0.1", node.port), timeout=0.5).close()
                return True
            except OSError:
                return False

        wait_until(ok, timeout, what="node %d to listen on %d" % (i, node.port))

    def stop(self, i, sig=signal.SIGTERM, timeout=5.0):
        """Sends sig to node i and waits for it to exit; returns the exit
        code (negative: killed by a signal)."""
        node = self.nodes[i]
        if node.proc is None:
            return None
        if node.proc.poll() is None:
            node.proc.send_signal(sig)
        try:
            code = node.proc.wait(timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait(timeout=scaled(5))
            raise AssertionError("node %d did not exit within %.1fs of signal %d\n%s"
                                 % (i, scaled(timeout), sig, self.log_tail(i)))
        self._close_log(node)
        return code

    def new_node(self, i, join):
        """Declares node i (fresh ports and data dir), to be started with
        --join via node `join`'s client port; not started yet."""
        port, peer_port = free_ports(2)
        d = os.path.join(self.root, "node%d" % i)
        os.makedirs(d, exist_ok=True)
        self.nodes[i] = Node(i, port, peer_port, d, os.path.join(self.root, "node%d.log" % i))
        self.nodes[i].join = self.nodes[join].port
        return self.nodes[i]

    def cli(self, *args, timeout=30.0):
        """Runs `sampan ARGS...`; returns the CompletedProcess (text)."""
        return subprocess.run([SAMPAN_BIN] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=scaled(timeout))

    def kill9(self, i):
        return self.stop(i, signal.SIGKILL)

    def restart(self, i, wait=True):
        """Starts node i again (same id, ports and data dir)."""
        node = self.nodes[i]
        if node.alive():
            self.stop(i)
        self._spawn(i)
        if wait:
            self.wait_listening(i)

    def wipe(self, i):
        """Stops node i (if running) and deletes its data directory."""
        if self.nodes[i].alive():
            self.stop(i)
        shutil.rmtree(self.nodes[i].data_dir, ignore_errors=True)

    def _close_log(self, node):
        if node.log is not None:
            node.log.close()
            node.log = None

    def shutdown(self):
        """Kills every process this cluster started, and waits for each."""
        for c in self.clients:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass
        for p in self.all_procs:
            if p.poll() is None:
                p.kill()
        for p in self.all_procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for node in self.nodes.values():
            self._close_log(node)

    # ---- observation -----------------------------------------------------

    def log_tail(self, i, lines=40):
        try:
            with open(self.nodes[i].log_path, "rb") as f:
                data = f.read().decode(errors="replace").splitlines()
            return "\n".join("node%d| %s" % (i, l) for l in data[-lines:])
        except OSError:
            return "(no log for node %d)" % i

    def sanitizer_reports(self):
        """Lines in the nodes' logs where ASan/UBSan reported an error."""
        found = []
        for i, node in self.nodes.items():
            try:
                with open(node.log_path, "rb") as f:
                    text = f.read().decode(errors="replace")
            except OSError:
                continue
            found += ["node%d: %s" % (i, line) for line in sanitizer_lines(text)]
        return found

    def port(self, i):
        return self.nodes[i].port

    def client(self, i, timeout=None, **kw):
        c = redis.Redis(host="127.0.0.1", port=self.nodes[i].port,
                        socket_timeout=timeout or scaled(5),
                        socket_connect_timeout=scaled(2),
                        decode_responses=kw.pop("decode_responses", True), **kw)
        self.clients.append(c)
        return c

    def info(self, i):
        """INFO of node i as a dict of strings (a fresh connection)."""
        s = RawConn(self.nodes[i].port, timeout=scaled(2))
        try:
            s.send(b"*1\r\n$4\r\nINFO\r\n")
            text = s.read_reply()
        finally:
            s.close()
        return parse_info(text.decode())

    def alive(self):
        return [i for i, n in self.nodes.items() if n.alive()]

    def leader(self, timeout=5.0, exclude=()):
        """The id of the node that says it leads in the highest term seen,
        polling INFO on every running node until one does."""

        def find():
            best = None
            max_term = 0
            for i in self.alive():
                if i in exclude:
                    continue
                try:
                    inf = self.info(i)
                except (OSError, EOFError):
                    continue
                term = int(inf["term"])
                max_term = max(max_term, term)
                if inf["role"] == "leader" and (best is None or term > best[1]):
                    best = (i, term)
            if best is not None and best[1] >= max_term:
                return best[0]
            return None

        return wait_until(find, timeout, what="a leader")

    def followers(self, leader=None):
        leader = leader or self.leader()
        return [i for i in self.alive() if i != leader]

    def wait_ready(self, timeout=10.0):
        """A leader exists and a write through it is applied."""
        deadline = time.monotonic() + scaled(timeout)

        def write():
            ld = self.leader(timeout=max(0.5, (deadline - time.monotonic()) / SLOW))
            c = redis.Redis(host="127.0.0.1", port=self.nodes[ld].port,
                            socket_timeout=scaled(3), socket_connect_timeout=scaled(2))
            try:
                c.set("__ready__", "1")
            finally:
                c.close()
            return ld

        return retry(write, timeout=timeout)

    def wait_applied(self, i, index, timeout=5.0):
        wait_until(lambda: int(self.info(i)["applied_index"]) >= index, timeout,
                   what="node %d to apply index %d" % (i, index))


# ---- fixtures ------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _finalize(cluster, request_node):
    try:
        rep = getattr(request_node, "rep_call", None)
        failed = rep is not None and rep.failed
        reports = cluster.sanitizer_reports()
        if failed or reports:
            for i in cluster.nodes:
                print(cluster.log_tail(i))
    finally:
        cluster.shutdown()
    assert not reports, "sanitizer errors in node logs:\n" + "\n".join(reports)


@pytest.fixture
def cluster(tmp_path, request):
    """A fresh, not yet started Cluster; everything it starts is killed."""
    c = Cluster(tmp_path)
    yield c
    _finalize(c, request.node)


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory, request):
    """A started 3-node cluster shared by a module's tests."""
    c = Cluster(tmp_path_factory.mktemp("cluster3"))
    try:
        c.start(3)
    except BaseException:
        for i in c.nodes:
            print(c.log_tail(i))
        c.shutdown()
        raise
    yield c
    _finalize(c, request.node)


def pytest_sessionfinish(session, exitstatus):
    # "No tests collected" (5) must never pass for success: the suite has
    # tests, so not finding any is a failure.
    if exitstatus == 5:
        session.exitstatus = 1
