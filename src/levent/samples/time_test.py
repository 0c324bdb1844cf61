"""time-test: a timer that prints the time elapsed between its calls.

A line-by-line port of libevent's ``sample/time-test.c``. Every 2 seconds
``timeout_cb`` prints ``timeout_cb called at <unix seconds>: <elapsed> seconds
elapsed.``. Without ``-p`` the event is a plain timer that the callback re-adds
itself; with ``-p`` it is ``EV_PERSIST`` and the loop re-arms it (its next
deadline is the previous deadline plus the interval, so it does not drift).

Like the C program it runs until interrupted. Ctrl-C (SIGINT) prints ``Caught
an interrupt signal; exiting cleanly.`` and calls ``loopexit()``, as
``libevent-reference.md`` §4 describes the sample (the 2.1-era ``time-test.c``
this port was read from has no signal event; without one, Ctrl-C would end a
Python program with a ``KeyboardInterrupt`` traceback). levent adds ``--count
N`` to stop by itself after N calls and ``--interval`` to change the 2 seconds.

C → Python, as this module does it::

    struct event timeout;                     timeout = Event()
    event_assign(&timeout, base, -1, flags,   timeout.assign(base, -1, flags,
                 timeout_cb, &timeout);                      timeout_cb, timeout)
    evutil_timerclear(&tv); tv.tv_sec = 2;
    event_add(&timeout, &tv);                 timeout.add(2.0)
    evutil_gettimeofday(&lasttime, NULL);     lasttime = time.time()
    event_base_dispatch(base);                base.dispatch()
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from levent import EV_PERSIST, Event, EventBase
from levent.samples import Sample

# The C program's globals, plus the two levent options.
lasttime = 0.0
event_is_persistent = False
interval = 2.0
remaining: int | None = None  # calls left before exiting; None runs forever


def timeout_cb(fd: int, event: int, arg: Any) -> None:
    """The timer's callback: print the time since the previous call."""
    global lasttime, remaining
    timeout: Event = arg

    newtime = time.time()
    elapsed = newtime - lasttime
    print(f"timeout_cb called at {int(newtime)}: {elapsed:.3f} seconds elapsed.", flush=True)
    lasttime = newtime

    if remaining is not None:
        remaining -= 1
        if remaining <= 0:
            base = timeout.base
            assert base is not None
            base.loopexit()
            return

    if not event_is_persistent:
        timeout.add(interval)


def signal_cb(fd: int, event: int, arg: Any) -> None:
    """SIGINT: leave the loop at the end of this pass."""
    base: EventBase = arg
    print("Caught an interrupt signal; exiting cleanly.", flush=True)
    base.loopexit()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """time-test's options: the C program's ``-p`` and levent's two extras."""
    parser.add_argument(
        "-p", dest="persistent", action="store_true", help="use an EV_PERSIST timer"
    )
    parser.add_argument(
        "--count",
        type=int,
        default=None,
        metavar="N",
        help="exit after N timeouts (default: run until Ctrl-C, like the C sample)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="seconds between timeouts (default: 2, as in the C sample)",
    )


def run(args: argparse.Namespace) -> int:
    """The C program's ``main``."""
    global event_is_persistent, interval, lasttime, remaining
    if args.count is not None and args.count < 1:
        print("time-test: --count must be at least 1", file=sys.stderr)
        return 2
    if not 0 < args.interval < 1e9:  # also refuses NaN
        # (0 would be legal for libevent, but a persistent timer added with a zero
        # timeout has no period: it fires once and never again, as in C.)
        print("time-test: --interval must be a positive number of seconds", file=sys.stderr)
        return 2
    interval = args.interval
    remaining = args.count

    flags: int
    if args.persistent:
        event_is_persistent = True
        flags = EV_PERSIST
    else:
        event_is_persistent = False
        flags = 0

    # Initialize the event library
    with EventBase() as base:
        # Initialize one event
        timeout = Event()
        timeout.assign(base, -1, flags, timeout_cb, timeout)
        timeout.add(interval)

        signal_int = Event.signal(base, signal.SIGINT, signal_cb, base)
        signal_int.add()

        lasttime = time.time()

        base.dispatch()
        signal_int.free()
        timeout.free()
    return 0


SAMPLE = Sample(
    name="time-test",
    summary="a timer printing the time elapsed between calls (sample/time-test.c)",
    add_arguments=add_arguments,
    run=run,
    description=__doc__ or "",
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m levent.samples.time_test [-p] [--count N] [--interval S]``."""
    return SAMPLE.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
