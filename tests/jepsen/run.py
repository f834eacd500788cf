#!/usr/bin/python3
"""Black-box fault runs of real `sampan serve` clusters (Jepsen-style).

  run.py run [--seed S] [--nodes 3|5] [--workload register|append]
             [--nemesis kill,pause,torn,partition,slow,membership|all]
             [--duration SEC]
      one run; prints its seed, nemesis schedule and the command that
      replays it, then the result. Exit 1 on any anomaly.
  run.py ci [--seed S] [--duration SEC]
      the bounded set `make test` runs: 5 runs, each a different nemesis
      mix, fresh seeds unless --seed; then a canary run whose clients read
      with READONLY (local, stale reads) under partitions, which passes
      only if the checker catches them (proof the harness is not blind).
  run.py campaign [--runs N] [--duration SEC] [--seed S]
                  [--nemesis LIST [--nodes 3|5]]
      a long campaign cycling through every configuration (both workloads,
      3 and 5 nodes, each nemesis alone and all mixed); prints a summary
      table with totals. Exit 1 if any run found an anomaly. With
      --nemesis every run has those nemeses, cycling through both
      workloads on --nodes (default 3 and 5; 5 with membership).

Every run: start the cluster behind the proxies, wait for a leader, run
the clients and the nemesis for --duration seconds, heal everything (with
the membership lane: take the configuration from the leader and restart
members that are down), wait until the cluster takes writes again, read
every key once more through its members, stop the nodes, and check the
history (checker.py). The membership lane (nemesis.py) needs room: on 3
nodes it can only transfer leadership; on 5 it removes, re-adds, demotes
and promotes down to 3 voters. A run's directory (node
logs, data, history.txt, report.txt) is kept under --out when the run
fails (or with --keep) and removed otherwise.

SAMPAN_BIN names the binary (default build/bin/sampan under the source
tree); a sanitizer build is detected and given more time.
SAMPAN_SERVE_ARGS adds flags to every node's `sampan serve` (for example
"--write-wait-ms 0": every log write finishes in the background).
"""

import argparse
import asyncio
import os
import random
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pylib"))

from checker import check_list_append, check_registers  # noqa: E402
from db import Db  # noqa: E402
from nemesis import ALL_FAULTS, Nemesis, make_schedule  # noqa: E402
from resp import RespConn, RespError  # noqa: E402
from sampan_testlib import is_sanitizer_build  # noqa: E402
from workload import Clients, Workload  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
CLIENTS = 12

# The bounded set for `make test`: different nemesis mixes, both workloads,
# 3 and 5 nodes; the 5-node runs have the membership lane too.
CI_RUNS = [
    (3, "register", ("kill",)),
    (3, "append", ("partition",)),
    (5, "register", ("pause", "partition", "membership")),
    (3, "append", ("torn", "slow")),
    (5, "append", ALL_FAULTS),
]

# A campaign cycles through these.
CAMPAIGN_RUNS = [
    (3, "register", ("kill",)),
    (3, "append", ("partition",)),
    (5, "register", ("pause",)),
    (3, "append", ("torn",)),
    (5, "append", ("slow",)),
    (3, "register", ALL_FAULTS),
    (5, "register", ("kill", "partition")),
    (3, "append", ALL_FAULTS),
    (5, "append", ("kill", "torn", "partition")),
    (5, "register", ALL_FAULTS),
    (5, "register", ("membership",)),
    (5, "append", ("membership", "kill", "partition")),
]


def binary():
    return os.environ.get("SAMPAN_BIN") or os.path.join(ROOT, "build", "bin", "sampan")


def slowdown(path):
    """Time factor for sanitizer builds."""
    return 3.0 if is_sanitizer_build(path) else 1.0


def fresh_seed():
    return int.from_bytes(os.urandom(4), "little")


def replay_command(seed, nodes, workload, nemeses, duration):
    return ("/usr/bin/python3 tests/jepsen/run.py run --seed %d --nodes %d "
            "--workload %s --nemesis %s --duration %g"
            % (seed, nodes, workload, ",".join(nemeses), duration))


class RunResult:
    def __init__(self, seed, nodes, workload, nemeses):
        self.seed = seed
        self.nodes = nodes
        self.workload = workload
        self.nemeses = nemeses
        self.ops = self.ok = self.fail = self.info = 0
        self.anomalies = []
        self.lost = 0
        self.reasons = {}
        self.canary = False
        self.not_linearizable = False  # the checker's verdict
        self.elapsed = 0.0
        self.dir = None

    @property
    def passed(self):
        """A canary run passes when the checker caught its stale reads and
        nothing else went wrong."""
        if self.canary:
            return self.not_linearizable and len(self.anomalies) == 1
        return not self.anomalies


async def wait_writable(db, deadline, loop, nodes=None):
    """Until a write through some node (of `nodes`, default all) is
    acknowledged, or the deadline."""
    nodes = sorted(nodes or db.nodes)
    k = 0
    while loop.time() < deadline:
        k += 1
        node = db.nodes[nodes[k % len(nodes)]]
        try:
            conn = await RespConn.open(node.port, 1.0)
            try:
                reply = await conn.call("SET", "__jepsen_ready__", str(k), timeout=3.0)
            finally:
                conn.close()
            if reply == "OK":
                return True
            if not isinstance(reply, RespError):
                return False
        except (OSError, asyncio.TimeoutError):
            pass
        await asyncio.sleep(0.1)
    return False


def history_text(history):
    return "\n".join(op.describe() for op in sorted(history, key=lambda o: o.invoke))


def lost_appends(history):
    """Acknowledged appends missing from the last successful read of their
    key (the final read, taken after every client stopped)."""
    last = {}
    for op in history:
        if op.kind == "read" and op.outcome == "ok":
            if op.key not in last or op.complete > last[op.key].complete:
                last[op.key] = op
    lost = []
    for op in history:
        if op.kind == "append" and op.outcome == "ok":
            final = last.get(op.key)
            if final is None or op.value not in final.value:
                lost.append(op)
    return lost


async def run_once(seed, nodes, workload_name, nemeses, duration, out, keep, echo,
                   local_reads=False):
    loop = asyncio.get_running_loop()
    res = RunResult(seed, nodes, workload_name, nemeses)
    slow = slowdown(binary())
    name = "%s-seed%d" % (time.strftime("%Y%m%d-%H%M%S"), seed)
    res.dir = os.path.join(out, name)
    os.makedirs(res.dir, exist_ok=True)
    schedule = make_schedule(seed, nemeses, duration, nodes)
    header = ["seed %d: %d nodes, %s workload, nemeses %s, %gs, %d clients"
              % (seed, nodes, workload_name, ",".join(nemeses), duration, CLIENTS),
              "replay: " + replay_command(seed, nodes, workload_name, nemeses, duration),
              "schedule:"] + ["  " + f.describe() for f in schedule]
    for line in header:
        echo(line)
    started = time.monotonic()
    db = Db(binary(), res.dir, nodes, seed)
    db.membership = "membership" in nemeses
    nem = Nemesis(db, seed, restart_timeout=10 * slow, echo=echo)
    clients = None
    try:
        await db.start()
        for i in db.nodes:
            if not await db.wait_listening(i, 10 * slow):
                res.anomalies.append("node %d did not start:\n%s" % (i, db.log_tail(i)))
        if not res.anomalies and not await wait_writable(db, loop.time() + 20 * slow, loop):
            res.anomalies.append("the fresh cluster took no write within %.0fs" % (20 * slow))
        if not res.anomalies:
            t0 = loop.time()
            rng = random.Random("clients/%d" % seed)
            clients = Clients(db, Workload(workload_name), rng, CLIENTS,
                              timeout=3.0 * slow, mean_gap=0.02, t0=t0,
                              local_reads=local_reads)
            await asyncio.gather(clients.run(duration), nem.run(schedule, t0, duration))
            await nem.heal_all()
            recover_s = 30 * slow
            members = await nem.settle(recover_s)
            if not await wait_writable(db, loop.time() + recover_s, loop, members):
                res.anomalies.append("the cluster took no write within %.0fs of healing"
                                     % recover_s)
            unread = await clients.final_reads(clients.now() + 30 * slow, members)
            if unread:
                res.anomalies.append("final reads never succeeded for keys %s" % unread)
        nem.collect_exits()
        res.anomalies += nem.problems
        res.anomalies += await db.stop_all(10 * slow)
    finally:
        await db.shutdown()
    res.anomalies += ["sanitizer: " + s for s in db.sanitizer_reports()]
    if clients is not None:
        h = clients.history
        res.ops = len(h)
        res.ok = sum(o.outcome == "ok" for o in h)
        res.fail = sum(o.outcome == "fail" for o in h)
        res.info = sum(o.outcome == "info" for o in h)
        res.anomalies += ["unexpected reply: " + u for u in clients.stats.unexpected]
        res.reasons = clients.stats.reasons
        if workload_name == "register":
            verdict = check_registers(h)
        else:
            verdict = check_list_append(h)
            lost = lost_appends(h)
            res.lost = len(lost)
            if lost:
                res.anomalies.append("%d acknowledged appends lost, e.g.:\n  %s" % (
                    len(lost), "\n  ".join(o.describe() for o in lost[:5])))
        if not verdict.ok:
            res.not_linearizable = True
            res.anomalies.append("checker: %s\n%s" % (verdict.verdict, verdict.report))
        with open(os.path.join(res.dir, "history.txt"), "w") as f:
            f.write(history_text(h) + "\n")
    res.elapsed = time.monotonic() - started
    with open(os.path.join(res.dir, "report.txt"), "w") as f:
        f.write("\n".join(header) + "\n\nnemesis log:\n" + "\n".join(nem.log) + "\n\n")
        f.write("outcomes: %d ops, %d ok, %d failed, %d indeterminate\n"
                % (res.ops, res.ok, res.fail, res.info))
        for why, count in sorted(res.reasons.items(), key=lambda kv: -kv[1]):
            f.write("  %6d  %s\n" % (count, why))
        f.write("result: %s\n" % ("PASS" if res.passed else "ANOMALY"))
        for a in res.anomalies:
            f.write("\n" + a + "\n")
    if not res.anomalies and not keep:
        shutil.rmtree(res.dir, ignore_errors=True)
        res.dir = None
    return res


def summary_row(k, r):
    if r.canary:
        result = "ok (canary: stale reads caught)" if r.passed else \
            "CANARY MISSED: stale reads on purpose, none caught"
    else:
        result = "ok" if r.passed else "ANOMALY " + str(r.dir)
    return "%4d %10d %5d %-8s %-30s %7d %7d %6d %6d %9d %5d %6.1f  %s" % (
        k, r.seed, r.nodes, r.workload, ("canary:" if r.canary else "") +
        ("all" if tuple(r.nemeses) == ALL_FAULTS else ",".join(r.nemeses))[:30], r.ops, r.ok, r.fail, r.info, len(r.anomalies),
        r.lost, r.elapsed, result)


SUMMARY_HEAD = "%4s %10s %5s %-8s %-30s %7s %7s %6s %6s %9s %5s %6s  %s" % (
    "run", "seed", "nodes", "workload", "nemeses", "ops", "ok", "fail", "info",
    "anomalies", "lost", "secs", "result")


def print_summary(results):
    print("\n" + SUMMARY_HEAD)
    for k, r in enumerate(results, 1):
        print(summary_row(k, r))
    regular = [r for r in results if not r.canary]
    print("total: %d runs, %d operations (%d ok, %d failed, %d indeterminate), "
          "%d anomalies in %d runs, %d lost acknowledged writes, %.0fs" % (
              len(regular), sum(r.ops for r in regular), sum(r.ok for r in regular),
              sum(r.fail for r in regular), sum(r.info for r in regular),
              sum(len(r.anomalies) for r in regular),
              sum(not r.passed for r in regular), sum(r.lost for r in regular),
              sum(r.elapsed for r in regular)))
    for r in results:
        if r.canary:
            print("canary (seed %d, READONLY stale reads on purpose): %s" % (
                r.seed, "%d anomalies caught, as it must" % len(r.anomalies)
                if r.passed else "NOT CAUGHT: the harness is blind"))


async def run_many(plan, duration, out, keep, quiet):
    """plan: (seed, nodes, workload, nemeses, canary) per run. A canary run
    reads with READONLY (local, possibly stale reads) and must be caught."""
    results = []
    for k, (seed, nodes, workload, nemeses, canary) in enumerate(plan, 1):
        def echo(line, k=k):
            if not quiet:
                print("[%d] %s" % (k, line), flush=True)
        r = await run_once(seed, nodes, workload, nemeses, duration, out, keep, echo,
                           local_reads=canary)
        r.canary = canary
        results.append(r)
        print(summary_row(k, r), flush=True)
        if not r.passed and r.dir is not None:
            # The whole report (seed, replay command, schedule, what the
            # nemesis did, every anomaly): CI keeps only what is printed.
            with open(os.path.join(r.dir, "report.txt")) as f:
                print("  | " + f.read().rstrip("\n").replace("\n", "\n  | "), flush=True)
        elif not quiet or canary:
            for a in r.anomalies:
                print("  %s: %s" % ("found (canary)" if canary else "ANOMALY",
                                    a.splitlines()[0] if canary else
                                    a.replace("\n", "\n    ")), flush=True)
    print_summary(results)
    return 0 if all(r.passed for r in results) else 1


def parse_nemeses(text):
    if text == "all":
        return ALL_FAULTS
    kinds = tuple(k for k in text.split(",") if k)
    bad = [k for k in kinds if k not in ALL_FAULTS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(
            "unknown nemesis %r (choose from %s, or all)" % (",".join(bad) or text,
                                                           ",".join(ALL_FAULTS)))
    return kinds


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    one = sub.add_parser("run", help="one run")
    one.add_argument("--nodes", type=int, choices=(3, 5), default=3)
    one.add_argument("--workload", choices=("register", "append"), default="register")
    one.add_argument("--nemesis", type=parse_nemeses, default=ALL_FAULTS)
    one.add_argument("--canary", action="store_true",
                     help="read with READONLY (local, stale) on purpose: a check "
                          "that the harness catches it (the run passes if it does)")
    ci = sub.add_parser("ci", help="the bounded set of `make test`")
    camp = sub.add_parser("campaign", help="many runs over every configuration")
    camp.add_argument("--runs", type=int, default=50)
    camp.add_argument("--nemesis", type=parse_nemeses, default=None,
                      help="these nemeses in every run (default: cycle through mixes)")
    camp.add_argument("--nodes", type=int, choices=(3, 5), default=None)
    for sp, dur in ((one, 30.0), (ci, 25.0), (camp, 60.0)):
        sp.add_argument("--seed", type=int, default=None,
                        help="first seed (default: fresh)")
        sp.add_argument("--duration", type=float, default=dur, help="seconds of faults")
        sp.add_argument("--out", default=os.path.join(ROOT, "build", "jepsen"),
                        help="where failed runs are kept")
        sp.add_argument("--keep", action="store_true", help="keep passing runs too")
        sp.add_argument("--quiet", action="store_true", help="only the summary lines")
    args = p.parse_args(argv)
    if not os.path.exists(binary()):
        print("run.py: no sampan binary at %s (build it, or set SAMPAN_BIN)" % binary(),
              file=sys.stderr)
        return 2
    seed = fresh_seed() if args.seed is None else args.seed
    if args.cmd == "run":
        plan = [(seed, args.nodes, args.workload, args.nemesis, args.canary)]
    else:
        configs = CI_RUNS if args.cmd == "ci" else CAMPAIGN_RUNS
        if args.cmd == "campaign" and args.nemesis:
            sizes = [args.nodes] if args.nodes else \
                [5] if "membership" in args.nemesis else [3, 5]
            configs = [(n, w, args.nemesis) for n in sizes for w in ("register", "append")]
        runs = len(CI_RUNS) if args.cmd == "ci" else args.runs
        plan = [(seed + k,) + configs[k % len(configs)] + (False,) for k in range(runs)]
        if args.cmd == "ci":
            # Last, the canary: stale reads on purpose, which must be caught.
            plan.append((seed + runs, 3, "register", ("partition",), True))
    print("sampan black-box run: %s, first seed %d, binary %s%s"
          % (args.cmd, seed, binary(),
             "; every node with " + os.environ["SAMPAN_SERVE_ARGS"]
             if os.environ.get("SAMPAN_SERVE_ARGS") else ""), flush=True)
    return asyncio.run(run_many(plan, args.duration, args.out, args.keep, args.quiet))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
