#!/usr/bin/python3
"""bench/compare.py: sampan beside etcd and Redis, same machine, same run.

Starts in turn, on 127.0.0.1, each with fresh data directories:
  sampan           3 `sampan serve` processes (every write fdatasync'd on a
                   majority before it is acknowledged)
  etcd             3 etcd processes (Debian's etcd-server), through etcd's
                   v3 HTTP/JSON gateway
  redis-always     one redis-server, appendonly yes, appendfsync always
  redis-everysec   one redis-server, appendonly yes, appendfsync everysec
runs the same closed-loop workloads against each with the project's load
generator (bench/loadgen.c: RESP for sampan and Redis, HTTP/JSON for
etcd), stops exactly the processes it started, and prints one table:
median ops/s and p50/p99 latency per system (min-max over --repeat runs),
then the ratios sampan/etcd and sampan/redis-always; redis-benchmark's own
SET and GET at 64 connections alongside, for the RESP systems. Also: CPU seconds per
100k acknowledged writes (all of a system's processes together, from
/proc) and resident memory after the run.

Figures, not a test: nothing here passes or fails. Run through
`make bench` (builds Release, installs missing peers from Debian).
"""

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "pylib"))

from sampan_testlib import free_ports, parse_info  # noqa: E402

# name, loadgen flags, spread over all nodes (else: the leader only)
WORKLOADS = [
    ("set c1", dict(conns=1), False),
    ("set c16", dict(conns=16), False),
    ("set c64", dict(conns=64), False),
    ("set c16 x p16", dict(conns=16, pipeline=16), False),
    ("get c16", dict(conns=16, read_ratio=1.0), False),
    ("get c64", dict(conns=64, read_ratio=1.0), False),
    ("90/10 c64", dict(conns=64, read_ratio=0.9), False),
    ("set c64 all nodes", dict(conns=64), True),
]
SYSTEMS = ["sampan", "etcd", "redis-always", "redis-everysec"]
# redis-benchmark alongside, for the RESP systems (through the leader).
REDIS_BENCHMARK = [("redis-benchmark set c64", "set"), ("redis-benchmark get c64", "get")]
CPU_WORKLOAD = "set c64"


def wait_port(port, proc, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("process %s exited with %s" % (proc.args[0], proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listening on %d after %.0fs" % (port, timeout))


def resp_call(port, *args):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    try:
        s.sendall(b"".join([b"*%d\r\n" % len(args)] +
                           [b"$%d\r\n%s\r\n" % (len(a), a) for a in
                            (x.encode() if isinstance(x, str) else x for x in args)]))
        data = b""
        while not data.endswith(b"\r\n") or (data[:1] == b"$" and data.count(b"\r\n") < 2):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data
    finally:
        s.close()


class Cluster:
    """The processes of one system under test; stop() kills exactly them."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []
        self.client_ports = []  # one per node
        self.leader_port = None

    def spawn(self, args, log_name):
        log = open(os.path.join(self.workdir, log_name), "wb")
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(p)
        return p

    def cpu_seconds(self):
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for p in self.procs:
            try:
                with open("/proc/%d/stat" % p.pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except OSError:
                pass
        return total

    def rss_mib(self):
        total = 0
        for p in self.procs:
            try:
                with open("/proc/%d/status" % p.pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024.0

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


def start_sampan(binary, workdir):
    c = Cluster(workdir)
    ports = free_ports(6)
    peers = ",".join("%d=127.0.0.1:%d" % (i, ports[2 + i]) for i in (1, 2, 3))
    for i in (1, 2, 3):
        c.spawn([binary, "serve", "--id", str(i),
                 "--data-dir", os.path.join(workdir, "n%d" % i),
                 "--listen", "127.0.0.1:%d" % ports[i - 1],
                 "--peer-listen", "127.0.0.1:%d" % ports[2 + i],
                 "--peers", peers], "sampan%d.log" % i)
        c.client_ports.append(ports[i - 1])
    for p, port in zip(c.procs, c.client_ports):
        wait_port(port, p)
    deadline = time.monotonic() + 20
    while c.leader_port is None and time.monotonic() < deadline:
        for port in c.client_ports:
            try:
                info = parse_info(resp_call(port, "INFO").split(b"\r\n", 1)[1].decode())
                if info.get("role") == "leader" and \
                        resp_call(port, "SET", "warm", "1").startswith(b"+OK"):
                    c.leader_port = port
            except (OSError, IndexError):
                pass
        time.sleep(0.1)
    if c.leader_port is None:
        raise RuntimeError("sampan elected no leader in 20 s")
    return c


def etcd_post(port, path, body, timeout=3):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def start_etcd(workdir):
    c = Cluster(workdir)
    ports = free_ports(6)
    initial = ",".join("n%d=http://127.0.0.1:%d" % (i, ports[2 + i]) for i in (1, 2, 3))
    for i in (1, 2, 3):
        client = "http://127.0.0.1:%d" % ports[i - 1]
        peer = "http://127.0.0.1:%d" % ports[2 + i]
        c.spawn(["etcd", "--name", "n%d" % i,
                 "--data-dir", os.path.join(workdir, "etcd%d" % i),
                 "--listen-client-urls", client, "--advertise-client-urls", client,
                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                 "--initial-cluster", initial, "--initial-cluster-state", "new",
                 "--initial-cluster-token", "sampan-bench", "--log-level", "warn"],
                "etcd%d.log" % i)
        c.client_ports.append(ports[i - 1])
    for p, port in zip(c.procs, c.client_ports):
        wait_port(port, p)
    deadline = time.monotonic() + 30
    key = base64.b64encode(b"warm").decode()
    while c.leader_port is None and time.monotonic() < deadline:
        for port in c.client_ports:
            try:
                st = etcd_post(port, "/v3/maintenance/status", {})
                if st.get("leader") == st["header"]["member_id"]:
                    etcd_post(port, "/v3/kv/put", {"key": key, "value": key})
                    c.leader_port = port
            except (OSError, KeyError, ValueError):
                pass
        time.sleep(0.2)
    if c.leader_port is None:
        raise RuntimeError("etcd elected no leader in 30 s")
    return c


def start_redis(workdir, fsync):
    c = Cluster(workdir)
    port = free_ports(1)[0]
    p = c.spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                 "--dir", workdir, "--appendonly", "yes", "--appendfsync", fsync,
                 "--save", "", "--daemonize", "no"], "redis.log")
    wait_port(port, p)
    c.client_ports = [port]
    c.leader_port = port
    return c


def loadgen(binary, proto, ports, duration, opts):
    args = [binary, "--proto", proto,
            "--addr", ",".join("127.0.0.1:%d" % p for p in ports),
            "--duration", str(duration), "--warmup", "1",
            "--conns", str(opts.get("conns", 16)),
            "--pipeline", str(opts.get("pipeline", 1)),
            "--read-ratio", str(opts.get("read_ratio", 0.0)),
            "--keyspace", "100000", "--value-size", "100"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=duration + 60)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            res = {}
            for part in line[7:].split(" "):
                if "=" in part:
                    k, v = part.split("=", 1)
                    res[k] = v
            return {"ops_s": float(res["ops_per_sec"]), "p50": float(res["p50_ms"]),
                    "p99": float(res["p99_ms"]), "errors": int(res["errors"]),
                    "ops": int(res["ops"])}
    raise RuntimeError("loadgen failed (%s): %s %s" % (" ".join(args), out.stdout[-500:],
                                                       out.stderr[-500:]))


def redis_benchmark(port, test, duration):
    """redis-benchmark -t test at 64 connections, about `duration` seconds
    of requests; its ops/s and p50 (it prints no p99 in quiet mode)."""
    n = int(max(20000, 20000 * duration))
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", test, "-c", "64",
                          "-n", str(n), "-d", "100", "-r", "100000", "-q"],
                         capture_output=True, text=True, timeout=600)
    for line in out.stdout.replace("\r", "\n").splitlines():
        if "requests per second" in line:
            rps = float(line.split(":", 1)[1].split("requests")[0])
            p50 = float(line.split("p50=")[1].split()[0]) if "p50=" in line else 0.0
            return {"ops_s": rps, "p50": p50, "p99": float("nan"), "errors": 0,
                    "ops": n}
    raise RuntimeError("redis-benchmark failed: %s %s" % (out.stdout[-300:], out.stderr[-300:]))


def run_system(name, args, workdir, workloads):
    """{workload: [result per repeat]}, plus CPU and memory figures."""
    if name == "sampan":
        c = start_sampan(args.sampan_bin, workdir)
    elif name == "etcd":
        c = start_etcd(workdir)
    else:
        c = start_redis(workdir, "always" if name == "redis-always" else "everysec")
    proto = "etcd" if name == "etcd" else "resp"
    results = {}
    extra = {}
    try:
        for wname, opts, spread in workloads:
            if spread and len(c.client_ports) == 1:
                continue  # one server: nothing to spread over
            ports = c.client_ports if spread else [c.leader_port]
            runs = []
            for _ in range(args.repeat):
                cpu0 = c.cpu_seconds()
                r = loadgen(args.loadgen, proto, ports, args.duration, opts)
                r["cpu"] = c.cpu_seconds() - cpu0
                runs.append(r)
                print("  %-15s %-18s %9.0f ops/s  p50 %7.3f ms  p99 %8.3f ms  errors %d"
                      % (name, wname, r["ops_s"], r["p50"], r["p99"], r["errors"]),
                      flush=True)
            results[wname] = runs
            if wname == CPU_WORKLOAD:
                # CPU seconds per 100k acknowledged writes (warmup included in
                # the CPU, so this slightly overstates the cost).
                per = [r["cpu"] / max(1, r["ops"] * (1 + 1.0 / args.duration)) * 1e5
                       for r in runs]
                extra["cpu_per_100k"] = statistics.median(per)
        if proto == "resp" and args.redis_benchmark and shutil.which("redis-benchmark"):
            for wname, test in REDIS_BENCHMARK:
                runs = [redis_benchmark(c.leader_port, test, args.duration)
                        for _ in range(args.repeat)]
                for r in runs:
                    print("  %-15s %-23s %9.0f ops/s  p50 %7.3f ms"
                          % (name, wname, r["ops_s"], r["p50"]), flush=True)
                results[wname] = runs
        extra["rss_mib"] = c.rss_mib()
    finally:
        c.stop()
    return results, extra


def cell(runs, key="ops_s"):
    if not runs:
        return "-"
    vals = sorted(r[key] for r in runs)
    med = statistics.median(vals)
    if len(vals) == 1:
        return "%.0f" % med
    return "%.0f (%.0f-%.0f)" % (med, vals[0], vals[-1])


def lat(runs):
    if not runs:
        return "-"
    p99 = statistics.median(r["p99"] for r in runs)
    return "%.2f/%s" % (statistics.median(r["p50"] for r in runs),
                        "-" if p99 != p99 else "%.2f" % p99)  # NaN: not reported


def ratio(a, b):
    if not a or not b:
        return "-"
    return "%.2fx" % (statistics.median(r["ops_s"] for r in a) /
                      statistics.median(r["ops_s"] for r in b))


def print_table(all_results, extras, systems, args):
    print("\n== %s, %d x %gs per cell (median (min-max) ops/s; p50/p99 ms medians)"
          % (time.strftime("%Y-%m-%d %H:%M"), args.repeat, args.duration))
    head = "%-23s" % "workload"
    for s in systems:
        head += " | %-24s %-13s" % (s + " ops/s", "p50/p99")
    head += " | sampan/etcd | sampan/redis-always"
    print(head)
    print("-" * len(head))
    for wname in [w[0] for w in WORKLOADS] + [w[0] for w in REDIS_BENCHMARK]:
        if not any(wname in all_results.get(s, {}) for s in systems):
            continue
        row = "%-23s" % wname
        for s in systems:
            runs = all_results.get(s, {}).get(wname)
            row += " | %-24s %-13s" % (cell(runs), lat(runs))
        sm = all_results.get("sampan", {}).get(wname)
        row += " | %-11s | %s" % (ratio(sm, all_results.get("etcd", {}).get(wname)),
                                  ratio(sm, all_results.get("redis-always", {}).get(wname)))
        print(row)
    for s in systems:
        e = extras.get(s, {})
        print("%-15s CPU s per 100k writes (%s): %s; RSS after the run: %.1f MiB"
              % (s, CPU_WORKLOAD, "%.2f" % e["cpu_per_100k"] if "cpu_per_100k" in e
                 else "-", e.get("rss_mib", 0.0)))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sampan-bin", default=os.path.join(ROOT, "build-release", "bin", "sampan"))
    p.add_argument("--loadgen", default=os.path.join(ROOT, "build-release", "bin",
                                                     "sampan-loadgen"))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per cell")
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--no-redis-benchmark", dest="redis_benchmark", action="store_false",
                   help="skip the redis-benchmark rows")
    p.add_argument("--workloads", default="",
                   help="comma-separated workload names (default: all)")
    args = p.parse_args(argv)
    systems = [s for s in args.systems.split(",") if s]
    bad = [s for s in systems if s not in SYSTEMS]
    if bad:
        p.error("unknown system %s (choose from %s)" % (bad, ",".join(SYSTEMS)))
    workloads = WORKLOADS
    if args.workloads:
        wanted = args.workloads.split(",")
        workloads = [w for w in WORKLOADS if w[0] in wanted]
        if len(workloads) != len(wanted):
            p.error("unknown workload in %r (choose from %s)"
                    % (args.workloads, ", ".join(w[0] for w in WORKLOADS)))
    for tool in (args.sampan_bin, args.loadgen):
        if not os.path.exists(tool):
            p.error("missing %s (run `make bench`, which builds it)" % tool)
    all_results, extras = {}, {}
    for s in systems:
        workdir = tempfile.mkdtemp(prefix="sampan-bench-%s-" % s)
        try:
            print("== %s" % s, flush=True)
            all_results[s], extras[s] = run_system(s, args, workdir, workloads)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(all_results, extras, systems, args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
