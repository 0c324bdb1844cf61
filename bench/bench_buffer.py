"""Evbuffer benchmarks (issue item 6): line parsing, chunk moves to a socket, small adds.

(a) a line protocol: 1,000,000 lines of ~40 bytes arriving in 16 KiB network-sized
pieces, read with ``Evbuffer.readln(EVBUFFER_EOL_CRLF)`` vs the hand-written Python
way (``bytearray += piece``; ``find(b"\\r\\n")``; slice; ``del``) vs
``asyncio.StreamReader.readuntil`` fed with ``feed_data``, and libevent's C evbuffer
called through ctypes (its row pays a ctypes round trip per call, which dominates);
(b) echo-style moves: 1,000,000 x 1 KiB chunks, 16 at a time added to an input
buffer, moved with ``add_buffer`` to an output buffer and written to a socketpair
with ``Evbuffer.write`` vs ``bytearray`` + ``sock.send``, the other end read and
counted; (c) many small writes then drains: ``add_printf`` and ``add`` of short
pieces vs ``bytearray +=`` of ``%``-formatted bytes. ``--quick`` divides the
counts by 10.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import socket
from collections.abc import Callable

from common import Row, best_of, print_table

import levent
import levent.buffer
from levent import EVBUFFER_EOL_CRLF, Evbuffer

PIECE = 16 * 1024


def _lines(n: int) -> tuple[list[bytes], int]:
    """n CRLF lines of 38-42 bytes, cut into 16 KiB pieces regardless of line ends."""
    data = b"".join(b"GET /api/v1/items/%08d HTTP/1.1\r\n" % (i * 7919) for i in range(n))
    pieces = [data[i : i + PIECE] for i in range(0, len(data), PIECE)]
    return pieces, len(data)


# -- (a) line protocol ---------------------------------------------------------------------


def levent_lines(pieces: list[bytes]) -> int:
    buf = Evbuffer()
    add, readln = buf.add, buf.readln
    count = 0
    for piece in pieces:
        add(piece)
        while readln(EVBUFFER_EOL_CRLF) is not None:
            count += 1
    buf.free()
    return count


def bytearray_lines(pieces: list[bytes]) -> int:
    buf = bytearray()
    count = 0
    for piece in pieces:
        buf += piece
        while True:
            i = buf.find(b"\r\n")
            if i < 0:
                break
            line = bytes(buf[:i])
            del buf[: i + 2]
            if line is not None:
                count += 1
    return count


def asyncio_lines(pieces: list[bytes]) -> int:
    async def run() -> int:
        reader = asyncio.StreamReader(limit=1 << 20)
        count = 0

        async def consume() -> None:
            nonlocal count
            readuntil = reader.readuntil
            try:
                while True:
                    await readuntil(b"\r\n")
                    count += 1
            except asyncio.IncompleteReadError:
                pass

        task = asyncio.ensure_future(consume())
        for piece in pieces:
            reader.feed_data(piece)
            await asyncio.sleep(0)  # the consumer reads every complete line, then waits
        reader.feed_eof()
        await task
        return count

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(run())
    finally:
        loop.close()


def _libevent() -> ctypes.CDLL | None:
    for name in (ctypes.util.find_library("event"), "libevent-2.1.so.7", "libevent_core-2.1.so.7"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.evbuffer_new.restype = ctypes.c_void_p
        lib.evbuffer_free.argtypes = [ctypes.c_void_p]
        lib.evbuffer_add.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.evbuffer_readln.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_size_t),
            ctypes.c_int,
        ]
        lib.evbuffer_readln.restype = ctypes.c_void_p
        return lib
    return None


def libevent_lines(lib: ctypes.CDLL, pieces: list[bytes]) -> int:
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]
    string_at, free = ctypes.string_at, libc.free
    buf = lib.evbuffer_new()
    add, readln = lib.evbuffer_add, lib.evbuffer_readln
    n_read = ctypes.c_size_t()
    ref = ctypes.byref(n_read)
    count = 0
    for piece in pieces:
        add(buf, piece, len(piece))
        while True:
            p = readln(buf, ref, 1)
            if not p:
                break
            string_at(p, n_read.value)
            free(p)
            count += 1
    lib.evbuffer_free(buf)
    return count


# -- (b) echo-style moves to a socket ------------------------------------------------------------


def _socketpair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    return a, b


class _Sink:
    """The far end of the socketpair: reads whatever arrived into one reused buffer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.space = bytearray(1 << 20)
        self.got = 0
        self.blocked = 0

    def drain(self) -> None:
        recv_into, space = self.sock.recv_into, self.space
        try:
            while True:
                n = recv_into(space)
                if not n:
                    return
                self.got += n
        except BlockingIOError:
            return


def levent_echo(chunk: bytes, n: int, batch: int) -> int:
    a, b = _socketpair()
    sink = _Sink(b)
    fd = a.fileno()
    inbuf, outbuf = Evbuffer(), Evbuffer()
    for _ in range(n // batch):
        for _ in range(batch):
            inbuf.add(chunk)
        outbuf.add_buffer(inbuf)
        while outbuf:
            try:
                outbuf.write(fd)
            except BlockingIOError:
                sink.blocked += 1  # the kernel buffer is full: read the other end first
            sink.drain()
    sink.drain()
    inbuf.free()
    outbuf.free()
    a.close()
    b.close()
    return sink.got // len(chunk)


def bytearray_echo(chunk: bytes, n: int, batch: int) -> int:
    a, b = _socketpair()
    sink = _Sink(b)
    send = a.send
    out = bytearray()
    for _ in range(n // batch):
        for _ in range(batch):
            out += chunk
        while out:
            try:
                sent = send(out)
                del out[:sent]
            except BlockingIOError:
                sink.blocked += 1
            sink.drain()
    sink.drain()
    a.close()
    b.close()
    return sink.got // len(chunk)


# -- (c) small writes then drains ---------------------------------------------------------------


def levent_printf(n: int) -> int:
    buf = Evbuffer()
    add_printf, drain = buf.add_printf, buf.drain
    for i in range(n):
        add_printf(b"%d:%s\r\n", i, b"value")
        if i & 1023 == 1023:
            drain(len(buf))
    buf.free()
    return n


def bytearray_printf(n: int) -> int:
    buf = bytearray()
    for i in range(n):
        buf += b"%d:%s\r\n" % (i, b"value")
        if i & 1023 == 1023:
            del buf[:]
    return n


def levent_small_adds(n: int) -> int:
    buf = Evbuffer()
    add, drain = buf.add, buf.drain
    piece = b"small piece\r\n"
    for i in range(n):
        add(piece)
        if i & 1023 == 1023:
            drain(len(buf))
    buf.free()
    return n


def bytearray_small_adds(n: int) -> int:
    buf = bytearray()
    piece = b"small piece\r\n"
    for i in range(n):
        buf += piece
        if i & 1023 == 1023:
            del buf[:]
    return n


def _row(name: str, fn: Callable[[], int], repeat: int, unit: str, expect: int) -> Row:
    seconds, units = best_of(fn, repeat)
    if units != expect:
        raise SystemExit(f"{name}: did {units} {unit}, expected {expect}")
    return Row(name, seconds, units, unit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="counts divided by 10")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    n_lines = 1_000_000 // scale
    n_chunks = 1_000_000 // scale
    n_small = 1_000_000 // scale
    repeat = 3
    compiled = not str(levent.buffer.__file__).endswith(".py")
    build = "compiled with mypyc" if compiled else "pure Python (editable install)"
    print(f"levent {levent.__version__} (levent.buffer {build}); best of {repeat}")

    pieces, size = _lines(n_lines)
    rows = [
        _row("levent", lambda: levent_lines(pieces), repeat, "lines", n_lines),
        _row("bytearray+find", lambda: bytearray_lines(pieces), repeat, "lines", n_lines),
        _row("asyncio StreamReader", lambda: asyncio_lines(pieces), repeat, "lines", n_lines),
    ]
    lib = _libevent()
    if lib is not None:
        rows.append(
            _row("libevent C via ctypes", lambda: libevent_lines(lib, pieces), 1, "lines", n_lines)
        )
    print_table(
        f"(a) {n_lines:,} CRLF lines ({size / 2**20:.0f} MiB) in 16 KiB pieces, readln "
        "(libevent row: one ctypes call per line dominates)",
        rows,
    )

    chunk = bytes(range(256)) * 4
    rows = [
        _row("levent", lambda: levent_echo(chunk, n_chunks, 16), repeat, "chunks", n_chunks),
        _row(
            "bytearray+send",
            lambda: bytearray_echo(chunk, n_chunks, 16),
            repeat,
            "chunks",
            n_chunks,
        ),
    ]
    print_table(
        f"(b) {n_chunks:,} x 1 KiB chunks: add, add_buffer, write to a socketpair (16 per write)",
        rows,
    )

    rows = [
        _row("levent add_printf", lambda: levent_printf(n_small), repeat, "adds", n_small),
        _row("bytearray += b'%'", lambda: bytearray_printf(n_small), repeat, "adds", n_small),
    ]
    print_table(
        f"(c1) {n_small:,} add_printf of ~15 bytes, drained every 1024",
        rows,
        reference="levent add_printf",
    )
    rows = [
        _row("levent add", lambda: levent_small_adds(n_small), repeat, "adds", n_small),
        _row("bytearray +=", lambda: bytearray_small_adds(n_small), repeat, "adds", n_small),
    ]
    print_table(
        f"(c2) {n_small:,} adds of 13 bytes, drained every 1024", rows, reference="levent add"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
