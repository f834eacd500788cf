"""The cluster under test: real `sampan serve` processes on 127.0.0.1, each
with its own data directory and log file, every directed peer link routed
through a proxy Link (proxy.py) owned by the harness.

Every process is started here and kept by its handle (the nodes' Popen
objects, the membership CLI's asyncio processes); shutdown() kills and
waits for exactly those. Nothing else is ever signalled.

With the membership lane on (Db.membership), a node may leave the
cluster: the harness then knows it is out (Node.removed) and never
restarts it with its old data, and some exits are expected rather than
failures (Db.expected_exit): a removed node that says so and exits 0, a
node refusing data that its own log or marker rules out after a removal
was asked, a node started with --join that could not ask its join
address. A node wiped and added again (Node.joined) restarts with --join.
"""

import asyncio
import os
import shlex
import shutil
import signal
import struct
import subprocess

from proxy import Link
from resp import RespConn, RespError
from sampan_testlib import free_ports, parse_info, sanitizer_lines

SECTOR = 512
BATCH_MAGIC = b"BTCH"

# What a node logs when a committed configuration leaves it out (it then
# writes DATA_DIR/REMOVED and exits 0), and its startup refusals after that.
REMOVED_LINE = "removed from the cluster by the configuration at index"
REFUSED_MARKED = "was removed from its cluster"
REFUSED_NOT_MEMBER = "is not a member of the configuration in"
JOIN_FAILED = "sampan: serve: --join"


class Node:
    def __init__(self, nid, port, peer_port, data_dir, log_path):
        self.id = nid
        self.port = port
        self.peer_port = peer_port
        self.data_dir = data_dir
        self.log_path = log_path
        self.proc = None  # the current process
        self.procs = []  # every process started for this node
        self.paused = False
        self.log = None
        self.starts = {}  # Popen -> (log offset at its start, its --join port)
        self.removed = False  # out of the cluster as far as the harness knows
        self.remove_asked = False  # a removal was asked since it last joined
        self.joined = False  # wiped and added again: restarts use --join

    def running(self):
        return self.proc is not None and self.proc.poll() is None


class Db:
    def __init__(self, binary, root, n, seed, election_ms=300, heartbeat_ms=50,
                 request_timeout_ms=2000, snapshot_every=500):
        self.binary = binary
        self.root = root
        self.opts = dict(election_ms=election_ms, heartbeat_ms=heartbeat_ms,
                         request_timeout_ms=request_timeout_ms,
                         snapshot_every=snapshot_every)
        ports = free_ports(2 * n + n * (n - 1))
        self.nodes = {}
        for i in range(1, n + 1):
            d = os.path.join(root, "node%d" % i)
            os.makedirs(d, exist_ok=True)
            self.nodes[i] = Node(i, ports[2 * i - 2], ports[2 * i - 1], d,
                                 os.path.join(root, "node%d.log" % i))
        self.links = {}
        k = 2 * n
        for a in self.nodes:
            for b in self.nodes:
                if a != b:
                    self.links[(a, b)] = Link(a, b, ports[k],
                                              self.nodes[b].peer_port,
                                              seed * 1000 + a * 31 + b)
                    k += 1
        self.procs = []  # every Popen started, for shutdown
        self.expected_exits = set()  # Popen objects we killed on purpose
        self.membership = False  # the membership lane runs: nodes may leave
        self.exit_notes = []  # expected exits, for the nemesis log
        self.cli_procs = set()  # running `sampan member ...` processes

    # ---- processes ------------------------------------------------------

    def args(self, i, join=None):
        """`sampan serve` for node i; join: a member's client port, for
        --join (--peers then only routes each member through its proxy)."""
        node = self.nodes[i]
        peers = []
        for j in sorted(self.nodes):
            port = node.peer_port if j == i else self.links[(i, j)].listen_port
            peers.append("%d=127.0.0.1:%d" % (j, port))
        o = self.opts
        return [self.binary, "serve", "--id", str(i),
                "--data-dir", node.data_dir,
                "--listen", "127.0.0.1:%d" % node.port,
                "--peer-listen", "127.0.0.1:%d" % node.peer_port,
                "--peers", ",".join(peers), "--cluster-id", "42",
                "--election-ms", str(o["election_ms"]),
                "--heartbeat-ms", str(o["heartbeat_ms"]),
                "--request-timeout-ms", str(o["request_timeout_ms"]),
                "--snapshot-every", str(o["snapshot_every"])] + (
                    ["--join", "127.0.0.1:%d" % join] if join else []) + \
            shlex.split(os.environ.get("SAMPAN_SERVE_ARGS", ""))

    def spawn(self, i, join=None):
        node = self.nodes[i]
        assert not node.running(), "node %d already running" % i
        if node.log is None:
            node.log = open(node.log_path, "ab")
        args = self.args(i, join)
        node.log.write(("---- start: %s\n" % " ".join(args)).encode())
        node.log.flush()
        offset = node.log.tell()
        node.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=node.log, stderr=subprocess.STDOUT)
        node.paused = False
        node.starts[node.proc] = (offset, join)
        node.procs.append(node.proc)
        self.procs.append(node.proc)

    def wipe(self, i):
        """Empties a stopped node's data directory (REMOVED marker too)."""
        node = self.nodes[i]
        assert not node.running(), "wipe of a running node"
        shutil.rmtree(node.data_dir, ignore_errors=True)
        os.makedirs(node.data_dir, exist_ok=True)

    def is_out(self, i):
        """Whether node i is out of the cluster as far as the harness knows
        (its removal was acknowledged, it said so, or its data directory
        carries the REMOVED marker)."""
        node = self.nodes[i]
        if not node.removed and os.path.exists(os.path.join(node.data_dir, "REMOVED")):
            node.removed = True
        return node.removed

    def kill(self, i):
        """kill -9, and wait for the process to be gone."""
        node = self.nodes[i]
        if node.running():
            self.expected_exits.add(node.proc)
            node.proc.kill()
            node.proc.wait(timeout=10)
        node.paused = False

    def pause(self, i):
        node = self.nodes[i]
        if node.running() and not node.paused:
            node.proc.send_signal(signal.SIGSTOP)
            node.paused = True

    def resume(self, i):
        node = self.nodes[i]
        if node.running() and node.paused:
            node.proc.send_signal(signal.SIGCONT)
        node.paused = False

    def take_unexpected_exits(self):
        """Reports (once each) of processes that ended without the harness
        killing them, with the end of the node's log. Exits the membership
        lane explains go to exit_notes instead (take_exit_notes)."""
        out = []
        for i, node in self.nodes.items():
            for p in node.procs:
                if p.poll() is not None and p not in self.expected_exits:
                    self.expected_exits.add(p)  # reported now
                    ok, why = self.expected_exit(i, p)
                    if ok:
                        self.exit_notes.append("node %d exited (status %d): %s"
                                               % (i, p.returncode, why))
                    else:
                        out.append("node %d exited on its own (exit status %s)%s:\n%s"
                                   % (i, p.returncode, why and ": " + why,
                                      self.log_tail(i)))
        return out

    def take_exit_notes(self):
        notes, self.exit_notes = self.exit_notes, []
        return notes

    def proc_log(self, i, p):
        """What process p of node i wrote to the node's log."""
        node = self.nodes[i]
        start = node.starts[p][0]
        later = [o for o, _ in node.starts.values() if o > start]
        try:
            with open(node.log_path, "rb") as f:
                f.seek(start)
                data = f.read(min(later) - start if later else -1)
        except OSError:
            return ""
        return data.decode(errors="replace")

    def expected_exit(self, i, p):
        """(expected?, why) for a process of node i that ended on its own.
        Only the membership lane expects exits; a node that says it was
        removed, or refuses its data as a removed node's, when no removal
        of it was asked since it joined is a failure."""
        if not self.membership:
            return False, ""
        node = self.nodes[i]
        text = self.proc_log(i, p)

        def line(mark):
            return next(l for l in text.splitlines() if mark in l).strip()
        if p.returncode == 0 and REMOVED_LINE in text:
            node.removed = True
            if node.remove_asked:
                return True, line(REMOVED_LINE)
            return False, "it says it was removed, but no removal of it was asked"
        for mark in (REFUSED_MARKED, REFUSED_NOT_MEMBER):
            if p.returncode == 1 and mark in text:
                if node.remove_asked:
                    node.removed = True
                    return True, "refused to start: " + line(mark)
                return False, ("it refused to start as a removed node, but no "
                               "removal of it was asked")
        if p.returncode == 1 and node.starts[p][1] and JOIN_FAILED in text:
            return True, "could not join: " + line(JOIN_FAILED)
        return False, ""

    async def start(self):
        for link in self.links.values():
            await link.start()
        for i in self.nodes:
            self.spawn(i)

    async def stop_all(self, timeout):
        """SIGTERM to every running node, as an operator stops them; returns
        what went wrong (a node that did not exit in time, or exited with
        a failure: a sanitizer's leak report, for instance)."""
        problems = []
        running = [(i, n.proc) for i, n in self.nodes.items() if n.running()]
        for _, p in running:
            self.expected_exits.add(p)
            p.send_signal(signal.SIGCONT)
            p.terminate()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for i, p in running:
            while p.poll() is None and loop.time() < deadline:
                await asyncio.sleep(0.05)
            if p.poll() is None:
                problems.append("node %d did not exit within %.0fs of SIGTERM:\n%s"
                                % (i, timeout, self.log_tail(i)))
            elif p.returncode != 0:
                problems.append("node %d exited with status %d after SIGTERM:\n%s"
                                % (i, p.returncode, self.log_tail(i)))
        return problems

    async def shutdown(self):
        """Kills every process this Db started and closes every proxy."""
        for p in list(self.cli_procs):
            if p.returncode is None:
                p.kill()
                await p.wait()
        for p in self.procs:
            if p.poll() is None:
                self.expected_exits.add(p)
                p.send_signal(signal.SIGCONT)
                p.kill()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for node in self.nodes.values():
            if node.log is not None:
                node.log.close()
                node.log = None
        for link in self.links.values():
            await link.close()

    # ---- observation ----------------------------------------------------

    async def info(self, i, timeout=0.5):
        conn = await RespConn.open(self.nodes[i].port, timeout)
        try:
            reply = await conn.call("INFO", timeout=timeout)
        finally:
            conn.close()
        if isinstance(reply, RespError) or not isinstance(reply, bytes):
            raise OSError("INFO failed on node %d: %r" % (i, reply))
        return parse_info(reply.decode())

    async def leader(self):
        """The node that says it leads in the highest term any running node
        reports, or None."""
        best, max_term = None, 0
        for i, node in self.nodes.items():
            if not node.running() or node.paused or node.removed:
                continue
            try:
                inf = await self.info(i)
            except (OSError, asyncio.TimeoutError):
                continue
            term = int(inf.get("term", 0))
            max_term = max(max_term, term)
            if inf.get("role") == "leader" and (best is None or term > best[1]):
                best = (i, term)
        if best is not None and best[1] >= max_term:
            return best[0]
        return None

    async def member_list(self, i, timeout=1.0):
        """MEMBER LIST of node i: {id: {"role": .., "leader": "yes"|"no", ..}}.
        Raises OSError or asyncio.TimeoutError when it does not answer."""
        conn = await RespConn.open(self.nodes[i].port, timeout)
        try:
            reply = await conn.call("MEMBER", "LIST", timeout=timeout)
        finally:
            conn.close()
        if not isinstance(reply, list):
            raise OSError("MEMBER LIST failed on node %d: %r" % (i, reply))
        out = {}
        for line in reply:
            fields = dict(kv.split("=", 1) for kv in line.decode().split() if "=" in kv)
            out[int(fields.pop("id"))] = fields
        return out

    async def cli(self, args, timeout):
        """Runs `sampan ARGS...` (the operator's CLI); returns (exit status,
        its output, one line) or (None, why) when it did not finish within
        timeout seconds (it is then killed)."""
        proc = await asyncio.create_subprocess_exec(
            self.binary, *map(str, args), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.cli_procs.add(proc)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return None, "no answer within %.0fs (the CLI was killed)" % timeout
        finally:
            self.cli_procs.discard(proc)
        text = " / ".join(l.strip() for l in out.decode(errors="replace").splitlines()
                          if l.strip())
        return proc.returncode, text.replace("sampan: ", "")

    async def wait_listening(self, i, timeout):
        node = self.nodes[i]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if not node.running():
                return False
            try:
                conn = await RespConn.open(node.port, 0.5)
                conn.close()
                return True
            except (OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.05)
        return False

    def log_tail(self, i, lines=30):
        try:
            with open(self.nodes[i].log_path, "rb") as f:
                data = f.read().decode(errors="replace").splitlines()
        except OSError:
            return "(no log for node %d)" % i
        return "\n".join("node%d| %s" % (i, l) for l in data[-lines:])

    def log_text(self, i):
        try:
            with open(self.nodes[i].log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def sanitizer_reports(self):
        return ["node%d: %s" % (i, line) for i in self.nodes
                for line in sanitizer_lines(self.log_text(i))]

    # ---- the torn-tail fault ---------------------------------------------

    def tear_wal_tail(self, i, rng):
        """On a stopped node, writes the beginning of a batch that never
        completed after the last complete batch of its newest WAL segment:
        what a power cut leaves of a write whose fdatasync never returned.
        Only bytes past every complete batch are touched, since any complete
        batch may have been synced and acknowledged. Returns what it did."""
        node = self.nodes[i]
        assert not node.running(), "tear_wal_tail on a running node"
        segs = [f for f in os.listdir(node.data_dir) if f.startswith("wal-")]
        if not segs:
            return "no WAL segment"
        newest = max(segs, key=lambda f: int(f.split("-")[1].split(".")[0]))
        if not newest.endswith(".open"):
            return "newest segment %s is closed" % newest
        path = os.path.join(node.data_dir, newest)
        with open(path, "r+b") as f:
            header = f.read(SECTOR)
            if len(header) < SECTOR or header[:8] != b"SAMPANWL":
                return "%s has no valid header" % newest
            off = SECTOR
            while True:
                f.seek(off)
                head = f.read(24)
                if len(head) < 24 or head[:4] != BATCH_MAGIC:
                    break
                payload_len = struct.unpack_from("<I", head, 4)[0]
                extent = (28 + payload_len + SECTOR - 1) // SECTOR * SECTOR
                off += extent
            if head[:4] not in (b"", b"\0\0\0\0") and len(head) >= 4:
                return "%s: unexpected bytes at offset %d" % (newest, off)
            variant = rng.choice(["partial-batch", "cut-magic", "truncate"])
            payload_len = rng.randrange(64, 4096)
            fake = BATCH_MAGIC + struct.pack("<III", payload_len,
                                             rng.randrange(1, 40),
                                             rng.getrandbits(32))
            fake += struct.pack("<Q", rng.getrandbits(40))
            if variant == "cut-magic":
                data = BATCH_MAGIC[:rng.randrange(1, 4)]
            else:
                body = bytes(rng.getrandbits(8) for _ in range(
                    rng.randrange(0, payload_len)))
                data = fake + body  # no trailer: the write was cut short
            f.seek(off)
            f.write(data)
            if variant == "truncate":
                f.truncate(off + rng.randrange(1, len(data) + 1))
            f.flush()
            os.fsync(f.fileno())
        return "%s: %s of %d bytes at offset %d" % (newest, variant, len(data), off)

