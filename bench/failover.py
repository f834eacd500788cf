#!/usr/bin/python3
"""bench/failover.py: how long a 3-node sampan cluster takes to acknowledge
a write again after its leader is killed (kill -9) under load, over many
trials; and restart time and memory with many keys.

  failover.py failover [--trials 100] [--election-ms 150]
      per trial: the load generator writes through one follower while the
      leader is killed; the figure is the time from the kill to the first
      write acknowledged (through the other follower) that was sent after
      it. The old leader restarts
      and catches up before the next trial. Prints median, p99 and max.
  failover.py restart [--keys 1000000]
      loads KEYS keys of 100-byte values, kills -9 one follower, restarts
      it and times until it has applied everything again; prints that time
      and each node's resident memory against the raw key+value bytes.
  failover.py catchup [--keys 1000000]
      loads KEYS keys, measures write p99 for 5 s, then wipes a follower
      and restarts it; measures write p99 in 2 s slices until it has
      caught up (by snapshot and log) and prints the ratio.

Figures, not a test. Stops exactly the processes it started.
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "pylib"))

from sampan_testlib import free_ports, parse_info  # noqa: E402


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port, timeout=1.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self.line()
        if line[:1] == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        return line

    def call(self, *args):
        self.sock.sendall(encode(*args))
        return self.reply()

    def close(self):
        self.sock.close()


class Sampan:
    def __init__(self, binary, workdir, election_ms):
        self.binary = binary
        self.workdir = workdir
        ports = free_ports(6)
        self.ports = {i: ports[i - 1] for i in (1, 2, 3)}
        self.peer_ports = {i: ports[2 + i] for i in (1, 2, 3)}
        self.election_ms = election_ms
        self.procs = {}
        self.all_procs = []

    def start(self, i):
        peers = ",".join("%d=127.0.0.1:%d" % (j, self.peer_ports[j]) for j in (1, 2, 3))
        log = open(os.path.join(self.workdir, "n%d.log" % i), "ab")
        p = subprocess.Popen([self.binary, "serve", "--id", str(i),
                              "--data-dir", os.path.join(self.workdir, "n%d" % i),
                              "--listen", "127.0.0.1:%d" % self.ports[i],
                              "--peer-listen", "127.0.0.1:%d" % self.peer_ports[i],
                              "--peers", peers, "--election-ms", str(self.election_ms),
                              "--heartbeat-ms", str(max(10, self.election_ms // 5))],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs[i] = p
        self.all_procs.append(p)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                Conn(self.ports[i]).close()
                return p
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("node %d did not start" % i)

    def info(self, i):
        c = Conn(self.ports[i])
        try:
            return parse_info(c.call("INFO").decode())
        finally:
            c.close()

    def leader(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i in self.procs:
                try:
                    if self.info(i).get("role") == "leader":
                        return i
                except OSError:
                    pass
            time.sleep(0.02)
        raise RuntimeError("no leader")

    def kill(self, i):
        p = self.procs.pop(i)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def stop_all(self):
        for p in self.all_procs:
            if p.poll() is None:
                p.kill()
        for p in self.all_procs:
            p.wait()

    def rss_mib(self, i):
        with open("/proc/%d/status" % self.procs[i].pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return 0.0


def first_write_after(port, t_kill, deadline):
    """Seconds from t_kill until a SET sent after it is acknowledged."""
    k = 0
    while time.monotonic() < deadline:
        k += 1
        try:
            c = Conn(port, timeout=0.5)
            try:
                sent = time.monotonic()
                reply = c.call("SET", "failover", str(k))
            finally:
                c.close()
            if reply == b"+OK" and sent >= t_kill:
                return time.monotonic() - t_kill
        except OSError:
            pass
        time.sleep(0.001)
    return None


def failover(args, s):
    times = []
    for trial in range(args.trials):
        leader = s.leader()
        followers = [i for i in (1, 2, 3) if i != leader]
        # Load: the load generator writes through one follower (16
        # connections) while the other follower measures.
        load_via, measure_via = followers[trial % 2], followers[1 - trial % 2]
        load = subprocess.Popen([args.loadgen, "--proto", "resp", "--addr",
                                 "127.0.0.1:%d" % s.ports[load_via], "--conns", "16",
                                 "--duration", "30", "--warmup", "0"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        t_kill = time.monotonic()
        s.kill(leader)
        took = first_write_after(s.ports[measure_via], t_kill, t_kill + 10)
        load.kill()
        load.wait()
        times.append(took if took is not None else float("inf"))
        s.start(leader)
        # caught up: the restarted node has applied what the others have
        target = int(s.info(followers[0])["commit_index"])
        while int(s.info(leader).get("applied_index", 0)) < target:
            time.sleep(0.01)
        print("  trial %3d: leader %d killed, first write acknowledged after %.0f ms"
              % (trial + 1, leader, took * 1000 if took else float("inf")), flush=True)
    times.sort()
    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    print("failover over %d trials (election timeout %d-%d ms): median %.0f ms, "
          "p99 %.0f ms, max %.0f ms" % (len(times), args.election_ms, 2 * args.election_ms,
                                        statistics.median(times) * 1000, p99 * 1000,
                                        times[-1] * 1000))


def restart(args, s):
    load_s = load_keys(s, args.keys)
    leader = s.leader()
    raw = sum(len("key:%d" % k) + 100 for k in range(args.keys))
    follower = [i for i in (1, 2, 3) if i != leader][0]
    target = int(s.info(leader)["commit_index"])
    while int(s.info(follower)["applied_index"]) < target:
        time.sleep(0.05)
    rss = {i: s.rss_mib(i) for i in s.procs}
    s.kill(follower)
    t_start = time.monotonic()
    s.start(follower)
    while True:
        try:
            if int(s.info(follower)["applied_index"]) >= target:
                break
        except OSError:
            pass
        time.sleep(0.01)
    took = time.monotonic() - t_start
    print("loaded %d keys (%.1f MiB of keys+values) in %.1f s (%.0f SET/s, pipelined)"
          % (args.keys, raw / 2**20, load_s, args.keys / load_s))
    for i in sorted(rss):
        print("  node %d RSS %.1f MiB = %.2fx the raw bytes%s"
              % (i, rss[i], rss[i] * 2**20 / raw, " (leader)" if i == leader else ""))
    print("restart of a follower with %d keys: serving and applied to index %d "
          "after %.2f s" % (args.keys, target, took))


def loadgen_run(args, port, seconds):
    """The load generator's RESULT fields for `seconds` of SETs (16
    connections) through port."""
    out = subprocess.run([args.loadgen, "--proto", "resp", "--addr", "127.0.0.1:%d" % port,
                          "--conns", "16", "--duration", "%g" % seconds, "--warmup", "0.5",
                          "--keyspace", str(args.keys)],
                         capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(kv.split("=", 1) for kv in line[7:].split(" ") if "=" in kv)
    raise RuntimeError("loadgen failed: %s" % out.stderr[-300:])


def catchup(args, s):
    load_keys(s, args.keys)
    leader = s.leader()
    base = loadgen_run(args, s.ports[leader], 5)
    follower = [i for i in (1, 2, 3) if i != leader][0]
    s.kill(follower)
    shutil.rmtree(os.path.join(s.workdir, "n%d" % follower))
    t0 = time.monotonic()
    s.start(follower)
    # Writes while the wiped follower is brought back by snapshot; the
    # load runs in slices until the follower has caught up.
    slices = []
    while True:
        slices.append(loadgen_run(args, s.ports[leader], 2))
        target = int(s.info(leader)["commit_index"])
        if int(s.info(follower).get("applied_index", 0)) >= target - 1000:
            break
        if time.monotonic() - t0 > 120:
            raise RuntimeError("the wiped follower did not catch up in 120 s")
    took = time.monotonic() - t0
    during = max(float(r["p99_ms"]) for r in slices)
    print("write p99 (16 connections, SET): %.2f ms before; %.2f ms (worst 2 s slice) "
          "while a wiped follower caught up with %d keys in %.1f s = %.2fx"
          % (float(base["p99_ms"]), during, args.keys, took,
             during / float(base["p99_ms"])))
    print("  throughput %s ops/s before, %s during (slices: %s)"
          % (base["ops_per_sec"], min(r["ops_per_sec"] for r in slices),
             ", ".join("%s/%sms" % (r["ops_per_sec"], r["p99_ms"]) for r in slices)))


def load_keys(s, keys):
    """KEYS keys of 100-byte values through the leader, pipelined."""
    leader = s.leader()
    c = Conn(s.ports[leader], timeout=30)
    value = b"v" * 100
    batch = 1000
    t0 = time.monotonic()
    for base in range(0, keys, batch):
        n = min(batch, keys - base)
        c.sock.sendall(b"".join(encode("SET", "key:%d" % (base + j), value) for j in range(n)))
        for _ in range(n):
            r = c.reply()
            if r != b"+OK":
                raise RuntimeError("SET failed: %r" % r)
    c.close()
    return time.monotonic() - t0


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("failover")
    f.add_argument("--trials", type=int, default=100)
    r = sub.add_parser("restart")
    r.add_argument("--keys", type=int, default=1000000)
    cu = sub.add_parser("catchup")
    cu.add_argument("--keys", type=int, default=1000000)
    for sp in (f, r, cu):
        sp.add_argument("--sampan-bin",
                        default=os.path.join(ROOT, "build-release", "bin", "sampan"))
        sp.add_argument("--loadgen",
                        default=os.path.join(ROOT, "build-release", "bin", "sampan-loadgen"))
        sp.add_argument("--election-ms", type=int, default=150)
    args = p.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="sampan-failover-")
    s = Sampan(args.sampan_bin, workdir, args.election_ms)
    try:
        for i in (1, 2, 3):
            s.start(i)
        s.leader()
        if args.cmd == "failover":
            failover(args, s)
        elif args.cmd == "catchup":
            catchup(args, s)
        else:
            restart(args, s)
    finally:
        s.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
