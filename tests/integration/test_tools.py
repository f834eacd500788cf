"""Stock Redis tools (Debian redis-tools) against a sampan cluster."""

import re
import shutil
import subprocess

import pytest

from conftest import scaled

REDIS_CLI = shutil.which("redis-cli")
REDIS_BENCHMARK = shutil.which("redis-benchmark")


def run(args, timeout):
    return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=scaled(timeout))


@pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli not installed (Debian redis-tools)")
def test_redis_cli(cluster3):
    leader = cluster3.leader()
    follower = cluster3.followers(leader)[0]
    for i in (leader, follower):
        port = str(cluster3.port(i))
        r = run([REDIS_CLI, "-p", port, "set", "cli:k%d" % i, "v%d" % i], 10)
        assert (r.returncode, r.stdout, r.stderr) == (0, "OK\n", "")
        r = run([REDIS_CLI, "-p", port, "get", "cli:k%d" % i], 10)
        assert (r.returncode, r.stdout) == (0, "v%d\n" % i)
        r = run([REDIS_CLI, "-p", port, "get", "cli:missing"], 10)
        assert (r.returncode, r.stdout) == (0, "\n")  # nil prints empty when not a tty
        r = run([REDIS_CLI, "-p", port, "incr", "cli:n"], 10)
        assert r.returncode == 0 and r.stdout.strip().isdigit()
        r = run([REDIS_CLI, "-p", port, "bogus"], 10)
        assert "ERR unknown command 'bogus'" in r.stdout + r.stderr
    # Both keys were replicated everywhere.
    for i in cluster3.nodes:
        r = run([REDIS_CLI, "-p", str(cluster3.port(i)), "mget", "cli:k%d" % leader,
                 "cli:k%d" % follower], 10)
        assert r.stdout == "v%d\nv%d\n" % (leader, follower)


@pytest.mark.skipif(REDIS_BENCHMARK is None, reason="redis-benchmark not installed (Debian redis-tools)")
def test_redis_benchmark(cluster3):
    port = str(cluster3.port(cluster3.leader()))
    r = run([REDIS_BENCHMARK, "-p", port, "-t", "set,get", "-n", "2000", "-c", "10", "-q"], 60)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    rates = dict(re.findall(r"^\s*(SET|GET): ([0-9.]+) requests per second", out, re.M))
    assert set(rates) == {"SET", "GET"}, out
    assert all(float(v) > 0 for v in rates.values()), out
    assert "ERR" not in out and "rror" not in out, out
    # What it wrote is there: redis-benchmark's default key.
    assert cluster3.client(cluster3.leader()).strlen("key:__rand_int__") == 3  # -d 3 (the default)
