"""libevent's threading calls (``event2/thread.h``) and what they mean in levent.

libevent is only thread-safe after ``evthread_use_pthreads()``; levent always
is. Every EventBase has a recursive lock and a notify fd from birth: the loop
thread holds the lock for each iteration except while it waits in the kernel,
other threads take it for their operation and then wake the loop. So
``use_pthreads`` and ``make_base_notifiable`` have nothing left to do, and
custom lock or condition callbacks have no Python meaning. The cost of being
always safe is one ``threading.get_ident()`` comparison per operation made on
the loop thread, and one lock round-trip per operation made elsewhere.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .constants import EVTHREAD_PTHREAD_PRIO_INHERIT

if TYPE_CHECKING:
    from .base import EventBase

__all__ = [
    "enable_lock_debugging",
    "get_id",
    "lock_debugging_enabled",
    "make_base_notifiable",
    "use_pthreads",
    "use_pthreads_with_flags",
    "use_threads",
]

_lock_debugging = False


def use_threads() -> None:
    """Accepted for portability: levent bases are always thread-safe."""


def use_pthreads() -> None:
    """``evthread_use_pthreads``: a no-op, levent bases are always thread-safe."""


def use_pthreads_with_flags(flags: int) -> None:
    """``evthread_use_pthreads_with_flags``: only ``EVTHREAD_PTHREAD_PRIO_INHERIT`` is known."""
    if flags & ~EVTHREAD_PTHREAD_PRIO_INHERIT:
        raise ValueError(f"unknown evthread flags {flags:#x}")


def make_base_notifiable(base: EventBase) -> None:
    """``evthread_make_base_notifiable``: every base already has its notify fd."""
    base._check_usable()


def get_id() -> int:
    """The calling thread's id, as libevent's id callback returns it."""
    return threading.get_ident()


def enable_lock_debugging() -> None:
    """``evthread_enable_lock_debugging``: Python's RLock already refuses foreign releases."""
    global _lock_debugging
    _lock_debugging = True


def lock_debugging_enabled() -> bool:
    """True once ``enable_lock_debugging`` was called."""
    return _lock_debugging
