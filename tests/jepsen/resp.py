"""A minimal asyncio RESP client for the fault harness: one connection,
one command at a time, every wait bounded by the caller's timeout.

Errors from the server come back as RespError values (not raised), so the
caller can classify them; connection trouble raises OSError or
asyncio.TimeoutError, and after either the connection is unusable.
"""

import asyncio

MAX_BULK = 64 << 20  # a reply larger than this is a protocol error here


class RespError:
    """An error reply: its text, e.g. "TRYAGAIN no leader is known yet"."""

    def __init__(self, text):
        self.text = text

    @property
    def code(self):
        return self.text.split(" ", 1)[0]

    def __repr__(self):
        return "RespError(%r)" % self.text


class ProtocolError(OSError):
    pass


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = b"%d" % a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class RespConn:
    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port, timeout):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), timeout)
        return cls(reader, writer)

    def send(self, *args):
        self.writer.write(encode(args))

    async def call(self, *args, timeout):
        """Sends one command and returns its reply (bytes, int, str for a
        simple string, None for nil, list, or RespError)."""
        self.send(*args)
        return await asyncio.wait_for(self._reply(), timeout)

    async def _line(self):
        line = await self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise ProtocolError("connection closed mid-reply")
        return line[:-2]

    async def _reply(self):
        line = await self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            if n > MAX_BULK:
                raise ProtocolError("bulk reply of %d bytes" % n)
            data = await self.reader.readexactly(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [await self._reply() for _ in range(n)]
        raise ProtocolError("unexpected reply type %r" % line[:20])

    def close(self):
        self.writer.close()
