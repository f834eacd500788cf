"""The fault-injecting TCP proxy: one Link per directed peer link.

sampan sends Raft messages from node A to node B only over A's outbound
connection to B (B's answers travel over B's own connection to A), so a
proxy in front of every directed pair lets the harness cut, slow or break
traffic one direction at a time. Node A is started with `--peers B=<the
A->B proxy port>`; the proxy forwards to B's real peer port.

A Link is in one of these states, set by the nemesis:
- up: bytes are forwarded, after `delay_ms` plus up to `jitter_ms` when a
  delay is set (order is kept, as TCP keeps it), and each chunk may break
  its connection with probability `reset_prob` (packet loss bad enough
  that the connection dies, losing what was in flight);
- down: a black hole. Existing connections stay open but everything read
  from them is discarded, and new connections are accepted and drained,
  as on a network that silently loses packets. When the link comes back
  up every connection that lost bytes is closed, so the sender redials
  rather than resuming a stream with a gap in it.

Memory is bounded: a delayed connection holds at most MAX_QUEUED_CHUNKS
chunks of at most CHUNK bytes; past that the proxy stops reading and TCP
pushes back on the sender.
"""

import asyncio
import random

CHUNK = 65536
MAX_QUEUED_CHUNKS = 256


class _Pipe:
    """One proxied connection: the sender's socket and the one to the
    receiver, with a delivery queue for delayed chunks."""

    def __init__(self, link, src_reader, src_writer):
        self.link = link
        self.src_reader = src_reader
        self.src_writer = src_writer
        self.dst_writer = None
        self.queue = asyncio.Queue(MAX_QUEUED_CHUNKS)
        self.broken = False  # lost bytes: must be closed when the link heals
        self.tasks = []
        self.last_due = 0.0

    def close(self):
        for w in (self.src_writer, self.dst_writer):
            if w is not None:
                w.close()
        for t in self.tasks:
            t.cancel()
        self.link.pipes.discard(self)


class Link:
    """The directed link src -> dst, listening on 127.0.0.1:listen_port and
    forwarding to 127.0.0.1:target_port."""

    def __init__(self, src, dst, listen_port, target_port, seed):
        self.src = src
        self.dst = dst
        self.listen_port = listen_port
        self.target_port = target_port
        self.rng = random.Random(seed)
        self.down = False
        self.delay_ms = 0
        self.jitter_ms = 0
        self.reset_prob = 0.0
        self.pipes = set()
        self.server = None
        self.bytes_forwarded = 0
        self.bytes_dropped = 0
        self.resets = 0

    async def start(self):
        self.server = await asyncio.start_server(self._accept, "127.0.0.1",
                                                 self.listen_port)

    async def close(self):
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for p in list(self.pipes):
            p.close()

    # ---- the nemesis's controls -----------------------------------------

    def cut(self):
        self.down = True

    def heal(self):
        """Up again, without delay or resets; connections that lost bytes
        while down are closed."""
        self.down = False
        self.delay_ms = self.jitter_ms = 0
        self.reset_prob = 0.0
        for p in list(self.pipes):
            if p.broken:
                p.close()

    def slow(self, delay_ms, jitter_ms, reset_prob=0.0):
        self.delay_ms = delay_ms
        self.jitter_ms = jitter_ms
        self.reset_prob = reset_prob

    # ---- forwarding -----------------------------------------------------

    async def _accept(self, reader, writer):
        pipe = _Pipe(self, reader, writer)
        self.pipes.add(pipe)
        if not self.down:
            try:
                dst_reader, pipe.dst_writer = await asyncio.open_connection(
                    "127.0.0.1", self.target_port)
            except OSError:
                pipe.close()  # the receiver is down: so is the connection
                return
            pipe.tasks.append(asyncio.ensure_future(self._back(pipe, dst_reader)))
        pipe.tasks.append(asyncio.ensure_future(self._pump(pipe)))

    async def _back(self, pipe, dst_reader):
        """The receiver's side: its bytes (if any) go back unchanged; its
        close closes the pipe, so the sender sees the receiver go away."""
        try:
            while True:
                data = await dst_reader.read(CHUNK)
                if not data:
                    break
                if not self.down:
                    pipe.src_writer.write(data)
                    await pipe.src_writer.drain()
        except OSError:
            pass
        except asyncio.CancelledError:
            return
        pipe.close()

    async def _pump(self, pipe):
        """Reads from the sender; forwards, delays, drops or breaks."""
        deliver = None
        try:
            while True:
                data = await pipe.src_reader.read(CHUNK)
                if not data:
                    break
                if self.down or pipe.dst_writer is None:
                    pipe.broken = True
                    self.bytes_dropped += len(data)
                    continue
                if self.reset_prob and self.rng.random() < self.reset_prob:
                    self.resets += 1
                    break
                if self.delay_ms or self.jitter_ms or not pipe.queue.empty():
                    if deliver is None:
                        deliver = asyncio.ensure_future(self._deliver(pipe))
                        pipe.tasks.append(deliver)
                    loop = asyncio.get_running_loop()
                    due = loop.time() + (self.delay_ms + self.rng.uniform(
                        0, self.jitter_ms)) / 1000.0
                    pipe.last_due = max(due, pipe.last_due)
                    await pipe.queue.put((pipe.last_due, data))
                else:
                    pipe.dst_writer.write(data)
                    self.bytes_forwarded += len(data)
                    await pipe.dst_writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            return
        pipe.close()

    async def _deliver(self, pipe):
        loop = asyncio.get_running_loop()
        try:
            while True:
                due, data = await pipe.queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if self.down:
                    pipe.broken = True
                    self.bytes_dropped += len(data)
                    continue
                pipe.dst_writer.write(data)
                self.bytes_forwarded += len(data)
                await pipe.dst_writer.drain()
        except OSError:
            pipe.close()
        except asyncio.CancelledError:
            pass
