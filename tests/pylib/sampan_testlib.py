"""Helpers shared by the Python suites that run real `sampan serve`
processes (tests/integration, tests/jepsen): free loopback ports, INFO
parsing, and spotting sanitizer builds and reports."""

import socket

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (all held open while probing,
    so they differ; released just before the caller binds them)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def parse_info(text):
    """INFO's "field:value" lines as a dict of strings."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        k, v = line.split(":", 1)
        out[k] = v
    return out


def is_sanitizer_build(path):
    """Whether the binary at path was built with AddressSanitizer."""
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def sanitizer_lines(text):
    """The lines of a node's log where ASan, LSan or UBSan reported."""
    return [l for l in text.splitlines() if any(m in l for m in SANITIZER_MARKS)]
