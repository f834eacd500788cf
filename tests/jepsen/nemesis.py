"""Nemeses: the faults of a black-box run, on a schedule drawn from the
run's seed before the run starts (and printed, so a failure can be
replayed with the same schedule).

Faults come in three lanes that may overlap each other but never
themselves: process faults (kill, pause, torn), network faults
(partition, slow) and membership changes. Each lane runs on its own
(a slow membership change delays only its own lane), so a run with
several kinds enabled sees, for example, a node killed during a
partition while a voter is being removed. Targets are drawn at schedule
time, except "the leader", which is resolved when the fault starts (the
log records who it was), and membership targets (below).

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
- membership (a third lane, through the operator's CLI, `sampan member`
  and `sampan transfer-leader`, asked of a random live member): remove a
  voter (remove-one: any voter; remove-leader: the leader) while more than
  MIN_VOTERS voters remain; re-add a node that is out of the cluster (wipe
  its data, `member add`, start it with --join); learner: demote a voter
  at the start, promote it back at the end; transfer leadership to
  another voter. The schedule plans voter counts (each operation assumed
  to succeed) and never plans fewer than MIN_VOTERS voters; which node is
  drawn at run time (rng "membership-runtime/SEED") from the configuration
  the leader reports, and an operation its guard rules out then (too few
  voters, nobody out) is skipped and logged. A change the cluster does not
  acknowledge (TIMEOUT, BUSY or TRYAGAIN past the CLI's retries, no
  answer) is indeterminate: logged, and the cluster's configuration is
  what counts from then on. A node the harness knows is out is never
  restarted by the process lane (its data would be refused, or be stale).
"""

import asyncio
import random
from dataclasses import dataclass, field

PROCESS_FAULTS = ("kill", "pause", "torn")
NETWORK_FAULTS = ("partition", "slow")
MEMBERSHIP_FAULTS = ("membership",)
LANES = (PROCESS_FAULTS, NETWORK_FAULTS, MEMBERSHIP_FAULTS)
ALL_FAULTS = PROCESS_FAULTS + NETWORK_FAULTS + MEMBERSHIP_FAULTS

# The membership lane never plans (nor, at run time, makes) fewer voters.
MIN_VOTERS = 3

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


def _draw_membership(rng, start, stop, voters, out):
    """One membership operation, given the voters and the nodes out of the
    cluster that the plan has before it. params["voters"] is the plan's
    voter count before, (during,) and after it: "5>4", or "5>4>5" for a
    learner round trip."""
    choices = [("transfer", 2)]
    if voters > MIN_VOTERS:
        choices += [("remove-one", 3), ("remove-leader", 2), ("learner", 2)]
    if out:
        choices.append(("re-add", 3 * out))
    f = Fault("membership", _pick(rng, choices), start, stop)
    if f.variant.startswith("remove"):
        counts = (voters, voters - 1)
    elif f.variant == "re-add":
        counts = (voters, voters + 1)
    elif f.variant == "learner":
        counts = (voters, voters - 1, voters)
    else:
        counts = (voters, voters)
    f.params = {"voters": ">".join(map(str, counts))}
    return f


def planned_voters(f):
    """The voter counts a membership fault's plan goes through."""
    return [int(v) for v in f.params["voters"].split(">")]


def make_schedule(seed, kinds, duration, n):
    """The faults of a run: a pure function of its arguments. The lanes
    are drawn one after the other from one generator, the membership
    lane last, so adding it left the other lanes' schedules as they were."""
    rng = random.Random("nemesis/%d" % seed)
    ids = list(range(1, n + 1))
    faults = []
    for lane in LANES:
        lane_kinds = [k for k in kinds if k in lane]
        if not lane_kinds:
            continue
        voters, out = n, 0  # the membership lane's plan
        t = rng.uniform(1.0, 3.0)
        while True:
            hold = rng.uniform(1.0, 5.0)
            if t + hold > duration - 1.0:
                break
            kind = rng.choice(lane_kinds)
            if kind == "membership":
                f = _draw_membership(rng, t, t + hold, voters, out)
                after = planned_voters(f)[-1]
                out -= after - voters
                voters = after
            else:
                f = _draw(rng, kind, ids, t, t + hold)
            faults.append(f)
            t += hold + rng.uniform(0.5, 3.0)
    faults.sort(key=lambda f: f.start)
    return faults


class Nemesis:
    """Applies a schedule to a Db. `problems` collects what the cluster did
    wrong under it (a node that would not restart, a torn tail that was
    not reported repaired); `log` is what happened, with times."""

    def __init__(self, db, seed, restart_timeout, echo=None, cli_timeout=20.0):
        self.db = db
        self.rng = random.Random("nemesis-runtime/%d" % seed)
        self.mrng = random.Random("membership-runtime/%d" % seed)
        self.restart_timeout = restart_timeout
        # The CLI bounds itself (a 10 s request, BUSY/TRYAGAIN retried for
        # 10 s); this only stops a CLI that hangs.
        self.cli_timeout = cli_timeout
        self.echo = echo
        self.log = []
        self.problems = []
        self.t0 = None
        self.targets = {}  # id(membership fault) -> the node it acted on

    def note(self, text):
        t = asyncio.get_running_loop().time() - self.t0 if self.t0 is not None else 0.0
        self.log.append("%7.2fs  %s" % (t, text))
        if self.echo:
            self.echo("  nemesis %7.2fs  %s" % (t, text))

    def collect_exits(self):
        """Notes processes that ended on their own: an expected exit (the
        membership lane's) in the log, any other one as a problem too."""
        for problem in self.db.take_unexpected_exits():
            self.note(problem.split("\n", 1)[0])
            self.problems.append(problem)
        for line in self.db.take_exit_notes():
            self.note(line)

    async def run(self, schedule, t0, until=None):
        """Each lane on its own task: one lane's slow fault (a restart that
        waits, a membership change) does not hold up the others. A lane
        running late starts nothing after `until` seconds."""
        self.t0 = t0
        lanes = [[f for f in schedule if f.kind in lane] for lane in LANES]
        await asyncio.gather(*(self._lane(faults, until) for faults in lanes if faults))

    async def _lane(self, faults, until):
        loop = asyncio.get_running_loop()
        for f in faults:
            if until is not None and loop.time() - self.t0 > until:
                self.note("skipped %s %s: its lane ran past the end of the run"
                          % (f.kind, f.variant))
                continue
            for at, act in ((f.start, self.start), (f.stop, self.stop)):
                wait = self.t0 + at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.collect_exits()
                await act(f)

    async def _leader_or_any(self):
        leader = await self.db.leader()
        if leader is None:
            alive = [i for i, n in self.db.nodes.items() if n.running()]
            leader = self.rng.choice(alive or list(self.db.nodes))
            return leader, "no leader known; picked node %d" % leader
        return leader, "leader is node %d" % leader

    async def start(self, f):
        if f.kind == "membership":
            return await self.membership_start(f)
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
                    if self.db.is_out(i):
                        f.params["tore"] = "nothing: node %d is out of the cluster" % i
                    else:
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
        if f.kind == "membership":
            return await self.membership_stop(f)
        if f.kind in ("kill", "torn"):
            # Nodes added again last: they ask a running member (--join).
            for i in sorted(f.nodes, key=lambda i: (self.db.nodes[i].joined, i)):
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

    async def restart(self, i, expect_repair=False, join=None):
        """Starts node i again unless it runs or is out of the cluster; a
        node that joined is started with --join (join: the member to ask;
        default the leader, else any live member). Returns whether it
        listens."""
        node = self.db.nodes[i]
        if node.running():
            return True
        self.collect_exits()
        if self.db.is_out(i):
            self.note("node %d stays down: it is out of the cluster" % i)
            return False
        if node.joined and join is None:
            join = await self.live_member(exclude=i, leader_first=True)
            if join is None:
                # Every other member is down: its data names its members.
                self.note("node %d restarts without --join: no other member runs" % i)
        before = len(self.db.log_text(i))
        self.db.spawn(i, join=self.db.nodes[join].port if join else None)
        if not await self.db.wait_listening(i, self.restart_timeout):
            if node.running():
                self.problems.append("node %d did not come back after a restart:\n%s"
                                     % (i, self.db.log_tail(i)))
            self.collect_exits()  # an exit: expected (join failed...) or a problem
            return False
        if expect_repair and "truncated a torn tail" not in self.db.log_text(i)[before:]:
            self.problems.append("node %d restarted after a torn tail without "
                                 "reporting the repair:\n%s" % (i, self.db.log_tail(i)))
        return True

    async def heal_all(self):
        """Every link up, every node running and resumed (but those out of
        the cluster; with the membership lane, settle() then takes the
        configuration from the leader)."""
        for link in self.db.links.values():
            link.heal()
        for i, node in self.db.nodes.items():
            if node.paused:
                self.db.resume(i)
        # Nodes that joined last: they ask a running member.
        for i in sorted(self.db.nodes, key=lambda i: (self.db.nodes[i].joined, i)):
            if not self.db.nodes[i].running():
                await self.restart(i)
        self.note("healed: all links up, all nodes running"
                  + (" but those out of the cluster" if self.db.membership else ""))

    # ---- the membership lane ------------------------------------------------

    async def live_member(self, exclude=None, leader_first=False):
        """A running, unpaused node the harness counts as a member: the
        leader if asked and known, else a random one; None if there is none."""
        ok = [i for i, n in sorted(self.db.nodes.items())
              if i != exclude and n.running() and not n.paused and not n.removed]
        if leader_first:
            leader = await self.db.leader()
            if leader in ok:
                return leader
        return self.mrng.choice(ok) if ok else None

    async def configuration(self):
        """{id: role} and the leader's id as the leader reports them (its
        configuration is the newest: in effect once appended); (None, None)
        when no leader answers. Membership changes are planned on this
        view only: a follower's may be stale."""
        leader = await self.db.leader()
        if leader is None:
            return None, None
        try:
            conf = await self.db.member_list(leader)
        except (OSError, asyncio.TimeoutError):
            return None, None
        if conf.get(leader, {}).get("leader") != "yes":
            return None, None  # it no longer leads
        return {j: m["role"] for j, m in conf.items()}, leader

    ROLE_NAMES = {"voter": "voters", "learner": "learners",
                  "learner(promoting)": "promoting", "outgoing": "outgoing"}

    @classmethod
    def describe_conf(cls, conf, leader):
        if conf is None:
            return "no leader answered MEMBER LIST"
        parts = []
        for role in sorted(set(conf.values()), key=lambda r: (r != "voter", r)):
            parts.append("%s %s" % (cls.ROLE_NAMES.get(role, role),
                                    ",".join(str(i) for i in sorted(conf) if conf[i] == role)))
        return "; ".join(parts) + "; leader %s" % leader

    async def ask(self, head, what, via, conf, leader, *args):
        """Notes a change about to be asked (and the configuration it was
        planned on), asks for it with `sampan ARGS... --addr <node via>`,
        and notes the outcome: another lane may act in between. Returns
        whether it was acknowledged (exit 0)."""
        self.note("%s: %s via node %d [%s]" % (head, what, via, self.describe_conf(conf, leader)))
        loop = asyncio.get_running_loop()
        asked = loop.time()
        rc, out = await self.db.cli(list(args) + ["--addr", "127.0.0.1:%d" % self.db.nodes[via].port],
                                    self.cli_timeout)
        text = "OK" if rc == 0 else ("exit %s: %s" % (rc, out) if rc is not None else out)[:200]
        self.note("  %s %s: %s (%.2fs)" % (head.split(" ", 1)[1], what, text, loop.time() - asked))
        return rc == 0

    async def leader_configuration(self, patience=3.0):
        """configuration(), asked again for up to `patience` seconds while
        no leader answers (one may be being elected)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while True:
            conf, leader = await self.configuration()
            if conf is not None or loop.time() >= deadline:
                return conf, leader
            await asyncio.sleep(0.2)

    async def membership_start(self, f):
        head = "start membership %s" % f.variant
        conf, leader = await self.leader_configuration()
        if conf is None:
            self.note("%s: skipped: no leader answered MEMBER LIST" % head)
            return
        for x in sorted(i for i, role in conf.items() if role == "learner"):
            # The plan has no learners between operations: one a learner
            # round trip left behind (its promotion failed) is promoted.
            via = await self.live_member()
            if via is not None:
                await self.ask(head, "first promote node %d, left a learner" % x, via,
                               conf, leader, "member", "promote", x)
                conf, leader = await self.leader_configuration()
                if conf is None:
                    self.note("%s: skipped: no leader answered MEMBER LIST" % head)
                    return
        voters = sorted(i for i, role in conf.items() if role == "voter")
        if f.variant in ("remove-one", "remove-leader", "learner"):
            if len(voters) <= MIN_VOTERS:
                self.note("%s: skipped: only %d voters [%s]"
                          % (head, len(voters), self.describe_conf(conf, leader)))
                return
            if f.variant == "remove-leader" and leader in voters:
                x = leader
            else:
                x = self.mrng.choice(voters)
            via = await self.live_member(exclude=x)
            if via is None:
                self.note("%s: skipped: no live member to ask" % head)
                return
            self.targets[id(f)] = x
            what = "node %d%s" % (x, " (the leader)" if x == leader else "")
            if f.variant == "learner":
                await self.ask(head, "demote " + what, via, conf, leader, "member", "demote", x)
                return
            node = self.db.nodes[x]
            node.remove_asked = True
            if await self.ask(head, "remove " + what, via, conf, leader, "member", "remove", x):
                node.removed = True
        elif f.variant == "re-add":
            await self.re_add(f, head, conf, leader)
        else:  # transfer
            others = [v for v in voters if v != leader]
            via = await self.live_member()
            if not others or via is None:
                self.note("%s: skipped: %s" % (head, "no other voter" if not others
                                               else "no live member to ask"))
                return
            x = self.mrng.choice(others)
            self.targets[id(f)] = x
            await self.ask(head, "leadership to node %d" % x, via, conf, leader,
                           "transfer-leader", x)

    async def re_add(self, f, head, conf, leader):
        """Wipe a node that is out, `member add` it through a live member,
        start it with --join. A node still running although removed (it
        never heard of its removal) is killed first."""
        out = sorted(i for i in self.db.nodes if i not in conf)
        if not out:
            self.note("%s: skipped: no node is out of the cluster" % head)
            return
        x = self.mrng.choice(out)
        node = self.db.nodes[x]
        node.removed = True  # while it is wiped: the process lane leaves it alone
        if node.running():
            self.db.kill(x)
            self.note("%s: killed node %d: still running, it never heard of its removal"
                      % (head, x))
        self.db.wipe(x)
        via = await self.live_member(exclude=x)
        if via is None:
            self.note("%s: skipped: no live member to ask (node %d wiped)" % (head, x))
            return
        self.targets[id(f)] = x
        ok = await self.ask(head, "add node %d (wiped)" % x, via, conf, leader,
                            "member", "add", x, "127.0.0.1:%d" % node.peer_port)
        if not ok:
            conf, leader = await self.leader_configuration()
            ok = conf is not None and x in conf
            self.note("%s: node %d is %sa member [%s]"
                      % (head, x, "" if ok else "not ", self.describe_conf(conf, leader)))
        if ok:
            node.removed = node.remove_asked = False
            node.joined = True
            join = await self.live_member(exclude=x, leader_first=True) or via
            if await self.restart(x, join=join):
                self.note("node %d started with --join via node %d" % (x, join))

    async def membership_stop(self, f):
        head = "stop membership %s" % f.variant
        x = self.targets.pop(id(f), None)
        if x is None:
            self.note("%s (nothing was done)" % head)
            return
        conf, leader = await self.leader_configuration()
        role = conf.get(x, "out") if conf is not None else "unknown"
        if f.variant == "learner":
            via = await self.live_member()
            if role != "learner" or via is None:
                self.note("%s: node %d is %s: not promoted [%s]"
                          % (head, x, role, self.describe_conf(conf, leader)))
                return
            await self.ask(head, "promote node %d" % x, via, conf, leader, "member", "promote", x)
            return
        node = self.db.nodes[x]
        if f.variant == "re-add" and conf is not None and x in conf and not node.running():
            await self.restart(x)  # its join failed: once more
        self.note("%s: node %d is %s and %s [%s]"
                  % (head, x, role, "running" if node.running() else "down",
                     self.describe_conf(conf, leader)))

    async def settle(self, timeout):
        """After healing, with the membership lane on: takes the
        configuration from the leader, records who is out, restarts members
        that are down (a join that failed), and waits (all within timeout
        seconds) for a settled configuration: no joint one, no learner
        waiting for promotion. Returns the members (every node without the
        lane; those not known to be out when no leader answers)."""
        if not self.db.membership:
            return sorted(self.db.nodes)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        async def conf_until(done):
            conf = leader = None
            while loop.time() < deadline:
                conf, leader = await self.configuration()
                if conf is not None and done(conf):
                    break
                await asyncio.sleep(0.2)
            return conf, leader
        conf, leader = await conf_until(lambda c: True)
        if conf is None:
            self.note("after healing: no leader answered MEMBER LIST")
            return [i for i in sorted(self.db.nodes) if not self.db.nodes[i].removed]
        for i in sorted(conf):
            node = self.db.nodes.get(i)
            if node is not None and not node.running() and not node.removed:
                if not await self.restart(i, join=leader if node.joined else None):
                    self.problems.append("member %d would not start after healing:\n%s"
                                         % (i, self.db.log_tail(i)))
        conf, leader = await conf_until(
            lambda c: all(role in ("voter", "learner") for role in c.values()))
        if conf is None:
            self.note("after healing: no leader answered MEMBER LIST")
            return [i for i in sorted(self.db.nodes) if not self.db.nodes[i].removed]
        for i, node in sorted(self.db.nodes.items()):
            if i not in conf:
                node.removed = True
            elif node.removed:
                self.problems.append(
                    "node %d is out of the cluster as far as the harness knows (its "
                    "removal was acknowledged, it said it was removed, or it refused "
                    "its data as a removed node's), yet the leader's configuration "
                    "lists it: %s" % (i, self.describe_conf(conf, leader)))
        self.note("after healing: %s" % self.describe_conf(conf, leader))
        return sorted(i for i in conf if i in self.db.nodes)
