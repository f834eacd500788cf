"""Nemeses: the faults of a black-box run, on a schedule drawn from the
run's seed before the run starts (and printed, so a failure can be
replayed with the same schedule).

Faults come in two lanes that may overlap each other but never
themselves: process faults (kill, pause, torn) and network faults
(partition, slow). A run with both kinds enabled therefore sees, for
example, a node killed during a partition. Targets are drawn at schedule
time, except "the leader", which is resolved when the fault starts (the
log records who it was).

- kill: kill -9 one node, the leader, a majority, or every node; restart
  them when the fault ends.
- pause: SIGSTOP one node, the leader or a majority; SIGCONT at the end.
- torn: kill -9 one node or the leader, leave a torn, never-synced batch
  after the last complete batch of its newest WAL segment (db.py), and
  restart it at the end; it must start, repairing the tail and saying so.
- partition: halves (minority/majority), isolate the leader, bridge (two
  sides that only one node hears), ring (5 nodes: each node hears its two
  neighbours), one-way cuts (the leader's outbound links, its inbound
  links, or a random half of all directed links).
- slow: delay every link (5-100 ms plus jitter), or make links flaky (each
  chunk breaks its connection with a small probability).
"""

import asyncio
import random
from dataclasses import dataclass, field

PROCESS_FAULTS = ("kill", "pause", "torn")
NETWORK_FAULTS = ("partition", "slow")
ALL_FAULTS = PROCESS_FAULTS + NETWORK_FAULTS

VARIANTS = {
    "kill": [("one", 4), ("leader", 3), ("majority", 2), ("all", 1)],
    "pause": [("one", 2), ("leader", 2), ("majority", 1)],
    "torn": [("one", 1), ("leader", 1)],
    "partition": [("halves", 3), ("isolate-leader", 3), ("bridge", 2),
                  ("ring", 2), ("leader-out", 2), ("leader-in", 2),
                  ("one-way-random", 2)],
    "slow": [("delay", 2), ("flaky", 1)],
}


@dataclass
class Fault:
    kind: str
    variant: str
    start: float
    stop: float
    nodes: list = field(default_factory=list)  # drawn at schedule time
    links: list = field(default_factory=list)
    params: dict = field(default_factory=dict)

    def describe(self):
        what = "%s %s" % (self.kind, self.variant)
        if self.nodes:
            what += " nodes=%s" % ",".join(map(str, self.nodes))
        if self.links:
            what += " cut=%s" % " ".join("%d>%d" % l for l in self.links)
        for k, v in sorted(self.params.items()):
            what += " %s=%s" % (k, v)
        return "%7.2fs-%7.2fs  %s" % (self.start, self.stop, what)


def _pick(rng, weighted):
    total = sum(w for _, w in weighted)
    x = rng.uniform(0, total)
    for v, w in weighted:
        x -= w
        if x <= 0:
            return v
    return weighted[-1][0]


def _both_ways(side_a, side_b):
    return [(a, b) for a in side_a for b in side_b] + \
           [(b, a) for a in side_a for b in side_b]


def _draw(rng, kind, ids, start, stop):
    """One fault with every target that does not depend on the leader."""
    n = len(ids)
    variants = [v for v in VARIANTS[kind] if not (v[0] == "ring" and n < 5)]
    f = Fault(kind, _pick(rng, variants), start, stop)
    order = ids[:]
    rng.shuffle(order)
    if f.variant == "one":
        f.nodes = [order[0]]
    elif f.variant == "majority":
        f.nodes = sorted(order[:n // 2 + 1])
    elif f.variant == "all":
        f.nodes = sorted(ids)
    elif f.variant == "halves":
        f.links = _both_ways(sorted(order[:n // 2]), sorted(order[n // 2:]))
    elif f.variant == "bridge":
        side = (n - 1) // 2
        f.nodes = [order[side]]  # the bridge
        f.links = _both_ways(sorted(order[:side]), sorted(order[side + 1:]))
    elif f.variant == "ring":
        near = {(order[k], order[(k + 1) % n]) for k in range(n)}
        near |= {(b, a) for a, b in near}
        f.links = [(a, b) for a in ids for b in ids if a != b and (a, b) not in near]
    elif f.variant == "one-way-random":
        all_links = [(a, b) for a in ids for b in ids if a != b]
        f.links = sorted(rng.sample(all_links, max(1, len(all_links) // 2)))
    elif f.variant == "delay":
        f.params = {"delay_ms": rng.randrange(5, 100), "jitter_ms": rng.randrange(0, 100)}
    elif f.variant == "flaky":
        f.params = {"delay_ms": rng.randrange(0, 20), "jitter_ms": rng.randrange(0, 20),
                    "reset_prob": round(rng.uniform(0.005, 0.05), 3)}
    return f


def make_schedule(seed, kinds, duration, n):
    """The faults of a run: a pure function of its arguments."""
    rng = random.Random("nemesis/%d" % seed)
    ids = list(range(1, n + 1))
    faults = []
    for lane in (PROCESS_FAULTS, NETWORK_FAULTS):
        lane_kinds = [k for k in kinds if k in lane]
        if not lane_kinds:
            continue
        t = rng.uniform(1.0, 3.0)
        while True:
            hold = rng.uniform(1.0, 5.0)
            if t + hold > duration - 1.0:
                break
            faults.append(_draw(rng, rng.choice(lane_kinds), ids, t, t + hold))
            t += hold + rng.uniform(0.5, 3.0)
    faults.sort(key=lambda f: f.start)
    return faults


class Nemesis:
    """Applies a schedule to a Db. `problems` collects what the cluster did
    wrong under it (a node that would not restart, a torn tail that was
    not reported repaired); `log` is what happened, with times."""

    def __init__(self, db, seed, restart_timeout, echo=None):
        self.db = db
        self.rng = random.Random("nemesis-runtime/%d" % seed)
        self.restart_timeout = restart_timeout
        self.echo = echo
        self.log = []
        self.problems = []
        self.t0 = None

    def note(self, text):
        t = asyncio.get_running_loop().time() - self.t0
        self.log.append("%7.2fs  %s" % (t, text))
        if self.echo:
            self.echo("  nemesis %7.2fs  %s" % (t, text))

    async def run(self, schedule, t0):
        self.t0 = t0
        loop = asyncio.get_running_loop()
        events = [(f.start, 0, f) for f in schedule] + [(f.stop, 1, f) for f in schedule]
        events.sort(key=lambda e: (e[0], e[1]))
        for at, is_stop, f in events:
            wait = t0 + at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            for problem in self.db.take_unexpected_exits():
                self.note(problem.split("\n", 1)[0])
                self.problems.append(problem)
            if is_stop:
                await self.stop(f)
            else:
                await self.start(f)

    async def _leader_or_any(self):
        leader = await self.db.leader()
        if leader is None:
            alive = [i for i, n in self.db.nodes.items() if n.running()]
            leader = self.rng.choice(alive or list(self.db.nodes))
            return leader, "no leader known; picked node %d" % leader
        return leader, "leader is node %d" % leader

    async def start(self, f):
        ids = sorted(self.db.nodes)
        why = ""
        if "leader" in f.variant:
            leader, why = await self._leader_or_any()
            if f.kind == "partition":
                others = [i for i in ids if i != leader]
                if f.variant == "isolate-leader":
                    f.links = _both_ways([leader], others)
                elif f.variant == "leader-out":
                    f.links = [(leader, o) for o in others]
                else:
                    f.links = [(o, leader) for o in others]
            else:
                f.nodes = [leader]
        if f.kind in ("kill", "torn"):
            for i in f.nodes:
                self.db.kill(i)
            if f.kind == "torn":
                for i in f.nodes:
                    f.params["tore"] = self.db.tear_wal_tail(i, self.rng)
        elif f.kind == "pause":
            for i in f.nodes:
                self.db.pause(i)
        elif f.kind == "partition":
            for link in f.links:
                self.db.links[link].cut()
        elif f.kind == "slow":
            for link in self.db.links.values():
                link.slow(f.params["delay_ms"], f.params["jitter_ms"],
                          f.params.get("reset_prob", 0.0))
        done = {"kill": "killed", "torn": "killed", "pause": "paused"}.get(f.kind)
        text = "start %s %s" % (f.kind, f.variant)
        if why:
            text += " (%s)" % why
        if done:
            text += ": %s %s" % (done, ",".join(map(str, f.nodes)))
        if f.links:
            text += ": cut %s" % " ".join("%d>%d" % l for l in f.links)
        if "tore" in f.params:
            text += "; tore %s" % f.params["tore"]
        self.note(text)

    async def stop(self, f):
        if f.kind in ("kill", "torn"):
            for i in f.nodes:
                await self.restart(i, expect_repair=(f.kind == "torn"
                                                     and "bytes at offset" in f.params.get("tore", "")))
        elif f.kind == "pause":
            for i in f.nodes:
                self.db.resume(i)
        elif f.kind == "partition":
            for link in f.links:
                self.db.links[link].heal()
        elif f.kind == "slow":
            for link in self.db.links.values():
                link.heal()
        self.note("stop %s %s" % (f.kind, f.variant))

    async def restart(self, i, expect_repair=False):
        node = self.db.nodes[i]
        if node.running():
            return
        self.problems += self.db.take_unexpected_exits()
        before = len(self.db.log_text(i))
        self.db.spawn(i)
        if not await self.db.wait_listening(i, self.restart_timeout):
            self.problems.append("node %d did not come back after a restart:\n%s"
                                 % (i, self.db.log_tail(i)))
            return
        if expect_repair and "truncated a torn tail" not in self.db.log_text(i)[before:]:
            self.problems.append("node %d restarted after a torn tail without "
                                 "reporting the repair:\n%s" % (i, self.db.log_tail(i)))

    async def heal_all(self):
        """Every link up, every node running and resumed."""
        for link in self.db.links.values():
            link.heal()
        for i, node in self.db.nodes.items():
            if node.paused:
                self.db.resume(i)
        for i, node in self.db.nodes.items():
            if not node.running():
                await self.restart(i)
        self.note("healed: all links up, all nodes running")
