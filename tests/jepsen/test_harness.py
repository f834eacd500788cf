"""Self-test of the black-box harness's own parts: the nemesis schedule is a
function of the seed (the membership lane's plan included, which never
goes below three voters), the proxy forwards in order, delays, black-holes
and heals as documented, the exits the membership lane expects are told
apart from crashes, and the torn-tail fault leaves exactly what sampan's
recovery classifies as a torn tail (checked with `sampan storage check`)."""

import asyncio
import os
import random
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pylib"))

from db import REMOVED_LINE, Db, Node  # noqa: E402
from nemesis import (ALL_FAULTS, LANES, MEMBERSHIP_FAULTS, MIN_VOTERS,  # noqa: E402
                     make_schedule, planned_voters)
from proxy import Link  # noqa: E402
from sampan_testlib import free_ports  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
BIN_DIR = os.path.dirname(os.environ.get("SAMPAN_BIN") or
                          os.path.join(ROOT, "build", "bin", "sampan"))


# --- the schedule --------------------------------------------------------------

def test_schedule_is_a_function_of_the_seed():
    a = [f.describe() for f in make_schedule(17, ALL_FAULTS, 60, 5)]
    b = [f.describe() for f in make_schedule(17, ALL_FAULTS, 60, 5)]
    c = [f.describe() for f in make_schedule(18, ALL_FAULTS, 60, 5)]
    assert a == b and a != c and len(a) > 10


def test_schedule_lanes_never_overlap_themselves():
    for seed in range(200):
        faults = make_schedule(seed, ALL_FAULTS, 60, random.choice((3, 5)))
        kinds = {f.kind for f in faults}
        assert kinds <= set(ALL_FAULTS)
        assert len(LANES) == 3 and sum(LANES, ()) == ALL_FAULTS
        for lane in LANES:
            mine = [f for f in faults if f.kind in lane]
            assert mine, (seed, lane)
            for x, y in zip(mine, mine[1:]):
                assert x.stop < y.start, (seed, x.describe(), y.describe())
        assert all(0 < f.start < f.stop <= 59 for f in faults)


def test_membership_schedule_is_a_function_of_the_seed():
    kinds = ("membership", "kill", "partition")
    a = [f.describe() for f in make_schedule(5000, kinds, 30, 5)]
    assert a == [f.describe() for f in make_schedule(5000, kinds, 30, 5)]
    assert a != [f.describe() for f in make_schedule(5001, kinds, 30, 5)]
    assert any("membership" in line for line in a)


def test_membership_lane_leaves_the_other_lanes_as_they_were():
    """Drawn last, it does not move the other lanes of a seed's schedule."""
    for seed in range(100):
        without = make_schedule(seed, ("kill", "partition"), 60, 5)
        with_it = make_schedule(seed, ("kill", "partition", "membership"), 60, 5)
        assert [f.describe() for f in without] == \
            [f.describe() for f in with_it if f.kind != "membership"]


def test_membership_plan_never_drops_below_three_voters():
    variants = set()
    for seed in range(300):
        n = 5 if seed % 4 else 3
        faults = [f for f in make_schedule(seed, MEMBERSHIP_FAULTS, 60, n)]
        assert faults and all(f.kind == "membership" for f in faults)
        voters, out = n, 0
        for f in faults:
            counts = planned_voters(f)
            variants.add(f.variant)
            # The plan chains: each operation starts where the last ended.
            assert counts[0] == voters, (seed, f.describe())
            assert min(counts) >= MIN_VOTERS, (seed, f.describe())
            if f.variant.startswith("remove"):
                assert counts == [voters, voters - 1]
            elif f.variant == "re-add":
                assert out > 0 and counts == [voters, voters + 1]
            elif f.variant == "learner":
                assert counts == [voters, voters - 1, voters]
            else:
                assert f.variant == "transfer" and counts == [voters, voters]
            out -= counts[-1] - voters
            voters = counts[-1]
            assert voters + out == n and out >= 0
        if n == 3:  # no room: only leadership moves
            assert {f.variant for f in faults} == {"transfer"}
    assert variants == {"remove-one", "remove-leader", "re-add", "learner", "transfer"}


def test_schedule_targets_are_valid_and_only_enabled_kinds_appear():
    for seed in range(200):
        faults = make_schedule(seed, ("partition",), 60, 5)
        assert faults and all(f.kind == "partition" for f in faults)
        for f in faults:
            for a, b in f.links:
                assert a != b and 1 <= a <= 5 and 1 <= b <= 5
            if f.variant == "halves":
                # both directions between a minority of 2 and a majority of 3
                assert len(f.links) == 2 * 2 * 3
    assert not any(f.variant == "ring" for s in range(100)
                   for f in make_schedule(s, ("partition",), 60, 3))


# --- expected exits ---------------------------------------------------------------

class FakeProc:
    def __init__(self, returncode):
        self.returncode = returncode

    def poll(self):
        return self.returncode


def test_expected_exits_of_the_membership_lane(tmp_path):
    """A removed node's exit 0 with its line is expected only when its
    removal was asked (else it is a failure, as is any other exit); a
    refused restart of a removed node, and a failed --join, are expected."""
    log = tmp_path / "node1.log"
    db = Db.__new__(Db)
    db.nodes = {1: Node(1, 0, 0, str(tmp_path), str(log))}
    db.membership = True
    db.expected_exits = set()
    db.exit_notes = []
    node = db.nodes[1]
    removed = "sampan: node 1: %s 77; stopping\n" % REMOVED_LINE
    cases = [
        # (log of the process, status, started with --join, removal asked,
        #  expected, the harness then counts it out of the cluster)
        (removed, 0, False, True, True, True),
        (removed, 0, False, False, False, True),  # it says so: never restarted
        (removed, 1, False, True, False, False),
        ("sampan: node 1 was removed from its cluster (x/REMOVED exists)\n", 1, False, True,
         True, True),
        ("sampan: node 1 is not a member of the configuration in x\n", 1, False, True,
         True, True),
        ("sampan: node 1 is not a member of the configuration in x\n", 1, False, False,
         False, False),
        ("sampan: serve: --join 127.0.0.1:9: connection refused\n", 1, True, False, True, False),
        ("sampan: serve: --join 127.0.0.1:9: connection refused\n", 1, False, False, False, False),
        ("AddressSanitizer: heap-use-after-free\n", 1, True, True, False, False),
        ("", 0, False, True, False, False),
    ]
    text = ""
    for k, (out, status, join, asked, expected, out_now) in enumerate(cases):
        p = FakeProc(status)
        node.starts[p] = (len(text), 9 if join else None)
        node.procs.append(p)
        text += out
        node.removed, node.remove_asked = False, asked
        log.write_text(text + "---- start: the next process\n")
        problems = db.take_unexpected_exits()
        notes = db.take_exit_notes()
        assert (len(notes), len(problems)) == ((1, 0) if expected else (0, 1)), (k, notes, problems)
        assert node.removed == out_now, k
    # Without the membership lane every exit on its own is a failure.
    db.membership = False
    p = FakeProc(0)
    node.starts[p] = (len(text), None)
    node.procs.append(p)
    log.write_text(text + removed)
    node.remove_asked = True
    assert len(db.take_unexpected_exits()) == 1 and not db.take_exit_notes()


# --- the proxy ------------------------------------------------------------------

class Sink:
    """A server that records every byte it receives, per connection."""

    def __init__(self):
        self.received = []
        self.server = None

    async def start(self, port):
        async def handle(reader, writer):
            buf = bytearray()
            self.received.append(buf)
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                buf += data
            writer.close()
        self.server = await asyncio.start_server(handle, "127.0.0.1", port)

    async def close(self):
        self.server.close()
        await self.server.wait_closed()


async def eventually(pred, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def _proxy_pair():
    listen, target = free_ports(2)
    sink = Sink()
    await sink.start(target)
    link = Link(1, 2, listen, target, seed=1)
    await link.start()
    return link, sink


def test_proxy_delays_but_keeps_order():
    async def main():
        link, sink = await _proxy_pair()
        link.slow(delay_ms=5, jitter_ms=20)
        _, w = await asyncio.open_connection("127.0.0.1", link.listen_port)
        sent = b""
        for k in range(200):
            chunk = b"%05d," % k
            sent += chunk
            w.write(chunk)
            await w.drain()
            await asyncio.sleep(0.001)
        await eventually(lambda: sink.received and bytes(sink.received[0]) == sent)
        w.close()
        await link.close()
        await sink.close()
    asyncio.run(main())


def test_cut_link_is_a_black_hole_and_heal_closes_broken_connections():
    async def main():
        link, sink = await _proxy_pair()
        r, w = await asyncio.open_connection("127.0.0.1", link.listen_port)
        w.write(b"before")
        await eventually(lambda: sink.received and bytes(sink.received[0]) == b"before")
        link.cut()
        w.write(b"during")
        await w.drain()
        # A connection opened while cut is accepted, and hears nothing back.
        r2, w2 = await asyncio.open_connection("127.0.0.1", link.listen_port)
        w2.write(b"new")
        await eventually(lambda: link.bytes_dropped >= len(b"during") + len(b"new"))
        assert bytes(sink.received[0]) == b"before" and len(sink.received) == 1
        link.heal()
        # Both lost bytes: both are closed, so their senders redial.
        assert await asyncio.wait_for(r.read(), 5) == b""
        assert await asyncio.wait_for(r2.read(), 5) == b""
        _, w3 = await asyncio.open_connection("127.0.0.1", link.listen_port)
        w3.write(b"after")
        await eventually(lambda: len(sink.received) == 2
                         and bytes(sink.received[1]) == b"after")
        for x in (w, w2, w3):
            x.close()
        await link.close()
        await sink.close()
    asyncio.run(main())


def test_one_direction_only():
    """Cutting the 1->2 link leaves a 2->1 link untouched."""
    async def main():
        l12, s2 = await _proxy_pair()
        l21, s1 = await _proxy_pair()
        l12.cut()
        _, a = await asyncio.open_connection("127.0.0.1", l12.listen_port)
        _, b = await asyncio.open_connection("127.0.0.1", l21.listen_port)
        a.write(b"lost")
        b.write(b"arrives")
        await eventually(lambda: s1.received and bytes(s1.received[0]) == b"arrives")
        await eventually(lambda: l12.bytes_dropped == 4)
        assert not s2.received or bytes(s2.received[0]) == b""
        for x in (a, b):
            x.close()
        for x in (l12, l21):
            await x.close()
        await s1.close()
        await s2.close()
    asyncio.run(main())


# --- the torn-tail fault ------------------------------------------------------

@pytest.mark.parametrize("variant", ["partial-batch", "cut-magic", "truncate"])
def test_torn_tail_is_what_recovery_calls_a_torn_tail(tmp_path, variant):
    """Each way of tearing leaves bytes that `sampan storage check` (the
    recovery code, read-only) reports as a torn tail to truncate, with every
    complete batch intact: never corruption, never a lost entry."""
    mkdata = os.path.join(BIN_DIR, "sampan-test-mkdata")
    sampan = os.path.join(BIN_DIR, "sampan")
    if not os.path.exists(mkdata):
        pytest.skip("no %s (build the tree first)" % mkdata)
    pristine = str(tmp_path / "pristine")
    subprocess.run([mkdata, pristine], check=True, capture_output=True)
    before = subprocess.run([sampan, "storage", "check", pristine],
                            capture_output=True, text=True)
    assert before.returncode == 0
    seen = 0
    for seed in range(200):
        d = str(tmp_path / ("d%d" % seed))
        shutil.copytree(pristine, d)
        db = Db.__new__(Db)  # only the fault's file handling is exercised
        db.nodes = {1: Node(1, 0, 0, d, os.devnull)}
        what = db.tear_wal_tail(1, random.Random(seed))
        if variant not in what:
            shutil.rmtree(d)
            continue
        seen += 1
        check = subprocess.run([sampan, "storage", "check", d],
                               capture_output=True, text=True)
        assert check.returncode == 0, (what, check.stdout, check.stderr)
        assert "torn tail" in check.stdout, (what, check.stdout)
        # The log itself is what it was before the tear.
        assert check.stdout.splitlines()[-1] == before.stdout.splitlines()[-1]
        if seen == 5:
            break
    assert seen == 5
