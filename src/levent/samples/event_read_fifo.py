"""event-read-fifo: read a named pipe with a persistent read event.

A line-by-line port of libevent's ``sample/event-read-fifo.c`` (its POSIX
branch). It refuses a regular file at the FIFO's path, removes whatever else is
there, creates the FIFO (mode 0600), opens it ``O_RDONLY | O_NONBLOCK`` and
watches it with an ``EV_READ | EV_PERSIST`` event whose argument is the event
itself (``event_self_cbarg()``, levent's ``SELF``). Each read of up to 254
bytes (the C ``char buf[255]`` less its terminating NUL) prints ``Read: <data>``
on stdout and a trace line on stderr. A read of 0 bytes (EOF) prints
``Connection closed`` on stderr, deletes the event and breaks the loop; SIGINT
breaks the loop too. On the way out the FIFO is unlinked.

EOF, on Linux: a FIFO opened for reading before any writer is *not* reported
readable until a writer has opened it and the last writer has closed it again
(the kernel reports a hangup only once a writer has come and gone). So, as
with the C program on Linux, this sample waits for the first writer, prints
what it (and any writer that joins meanwhile) writes, and exits when the last
writer closes: it does not re-open the FIFO for the next writer.

levent's differences from the C program, all small:

* ``--path`` chooses the FIFO (the C program always uses ``event.fifo`` in the
  current directory); the default is ``event.fifo`` in a fresh temporary
  directory, removed on exit together with the FIFO.
* SIGTERM is caught as well as SIGINT, so ``kill`` also cleans up.
* ``EAGAIN`` from ``read()`` (a spurious wakeup) is ignored rather than ending
  the program; any other read error prints ``read: <reason>`` and ends it, as
  ``perror`` does in C.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import stat
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from levent import EV_PERSIST, EV_READ, SELF, Event, EventBase
from levent.samples import Sample

BUF_SIZE = 255  # char buf[255]; read() gets sizeof(buf) - 1 bytes at most


def fifo_read(fd: int, event: int, arg: Any) -> None:
    """The FIFO is readable: print what arrived, or stop at EOF."""
    ev: Event = arg

    print(f"fifo_read called with fd: {fd}, event: {event}, arg: {ev!r}", file=sys.stderr)
    try:
        buf = os.read(fd, BUF_SIZE - 1)
    except BlockingIOError:
        return  # nothing after all; the event stays pending
    except OSError as exc:
        print(f"read: {exc.strerror}", file=sys.stderr)
        buf = None

    if not buf:
        if buf is not None:
            print("Connection closed", file=sys.stderr)
        ev.delete()
        base = ev.base
        assert base is not None
        base.loopbreak()
        return

    out = sys.stdout.buffer
    out.write(b"Read: " + buf + b"\n")
    out.flush()


def signal_cb(fd: int, event: int, arg: Any) -> None:
    """SIGINT or SIGTERM: leave the loop so that the FIFO gets cleaned up."""
    base: EventBase = arg
    base.loopbreak()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """event-read-fifo's one option, ``--path``."""
    parser.add_argument(
        "--path",
        default=None,
        help="where to create the FIFO (default: event.fifo in a new temporary directory)",
    )


def run(args: argparse.Namespace) -> int:
    """The C program's ``main``."""
    if not hasattr(os, "mkfifo"):
        print("event-read-fifo: this platform has no FIFOs (os.mkfifo)", file=sys.stderr)
        return 1
    tmpdir = None
    if args.path is None:
        tmpdir = tempfile.mkdtemp(prefix="levent-fifo-")
        fifo = os.path.join(tmpdir, "event.fifo")
    else:
        fifo = args.path
    try:
        return _read_fifo(fifo)
    finally:
        if tmpdir is not None:
            os.rmdir(tmpdir)


def _read_fifo(fifo: str) -> int:
    try:
        st = os.lstat(fifo)
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISREG(st.st_mode):
            print(f"lstat: {os.strerror(errno.EEXIST)}", file=sys.stderr)
            return 1

    with contextlib.suppress(FileNotFoundError):
        os.unlink(fifo)
    try:
        os.mkfifo(fifo, 0o600)
    except OSError as exc:
        print(f"mkfifo: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        try:
            socket = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            print(f"open: {exc.strerror}", file=sys.stderr)
            return 1
        try:
            _dispatch(socket, fifo)
        finally:
            os.close(socket)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(fifo)
    return 0


def _dispatch(socket: int, fifo: str) -> None:
    # Initialize the event library
    with EventBase() as base:
        # Initialize one event; catch SIGINT (and SIGTERM) so the FIFO can be cleaned up
        signal_int = Event.signal(base, signal.SIGINT, signal_cb, base)
        signal_int.add()
        signal_term = Event.signal(base, signal.SIGTERM, signal_cb, base)
        signal_term.add()

        evfifo = Event(base, socket, EV_READ | EV_PERSIST, fifo_read, SELF)

        # Add it to the active events, without a timeout
        evfifo.add()

        # The C program says this right after open(); here it waits until the
        # signal events are in place, so whoever reads it may send SIGINT at once.
        print(f"Write data to {fifo}", file=sys.stderr, flush=True)
        base.dispatch()
        for ev in (evfifo, signal_term, signal_int):
            ev.free()


SAMPLE = Sample(
    name="event-read-fifo",
    summary="print what is written to a FIFO (sample/event-read-fifo.c)",
    add_arguments=add_arguments,
    run=run,
    description=__doc__ or "",
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m levent.samples.event_read_fifo [--path PATH]``."""
    return SAMPLE.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
