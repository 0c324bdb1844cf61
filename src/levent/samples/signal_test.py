"""signal-test: catch SIGINT with a signal event; the third one ends the program.

A line-by-line port of libevent's ``sample/signal-test.c``. One persistent
SIGINT event, created with ``event_self_cbarg()`` (levent's ``SELF``) so the
callback receives its own event, prints ``signal_cb: got signal 2`` for every
Ctrl-C. The C callback tests ``called >= 2`` *before* incrementing ``called``,
so the first two signals only print; the third prints, then deletes the event.
With nothing left pending the loop returns and the program exits 0. This port
keeps that off-by-one on purpose: "SIGINT twice to quit" is a common summary of
the sample, but the C program quits on the third.

levent adds one line on stderr before the loop starts (the pid and what to
press), so a person or a test knows when the signal event is in place.

C → Python, as this module does it::

    base = event_base_new();                   with EventBase() as base:
    signal_int = evsignal_new(base, SIGINT,        signal_int = Event.signal(base, SIGINT,
        signal_cb, event_self_cbarg());                signal_cb, SELF)
    event_add(signal_int, NULL);                   signal_int.add()
    event_base_dispatch(base);                     base.dispatch()
    event_free(signal_int);                        signal_int.free()
    event_base_free(base);                     (the with block frees the base)
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from levent import SELF, Event, EventBase
from levent.samples import Sample

called = 0


def signal_cb(fd: int, event: int, arg: Any) -> None:
    """Print the signal; from the third delivery on, delete the event."""
    global called
    sig: Event = arg

    print(f"signal_cb: got signal {sig.signal_number}", flush=True)

    if called >= 2:
        sig.delete()

    called += 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """signal-test takes no options, like the C program."""


def run(args: argparse.Namespace) -> int:
    """The C program's ``main``."""
    global called
    called = 0

    # Initialize the event library
    with EventBase() as base:
        # Initialize one event
        signal_int = Event.signal(base, signal.SIGINT, signal_cb, SELF)
        signal_int.add()

        print(
            f"signal-test: pid {os.getpid()}; press Ctrl-C three times to quit",
            file=sys.stderr,
            flush=True,
        )
        base.dispatch()

        signal_int.free()
    return 0


SAMPLE = Sample(
    name="signal-test",
    summary="a SIGINT signal event; the third Ctrl-C quits (sample/signal-test.c)",
    add_arguments=add_arguments,
    run=run,
    description=__doc__ or "",
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m levent.samples.signal_test``."""
    return SAMPLE.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
