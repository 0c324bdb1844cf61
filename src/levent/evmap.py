"""The fd map: which events wait on each fd, and what the backend is asked to watch.

libevent's ``evmap_io``: every inserted I/O event is listed under its fd, with
per-condition counts, so that the interest registered with the backend is the
union of the events' conditions and changes only when that union changes. The
list is newest-first, as libevent's, which is the order the loop activates the
events of a ready fd in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from . import log
from .constants import EV, EV_FEATURE

if TYPE_CHECKING:
    from .backends import Backend
    from .event import Event

__all__ = ["FdInfo", "IoMap"]

_READ: Final = int(EV.READ)
_WRITE: Final = int(EV.WRITE)
_CLOSED: Final = int(EV.CLOSED)
_ET: Final = int(EV.ET)
_IO: Final = _READ | _WRITE | _CLOSED


class FdInfo:
    """The events inserted on one fd and the interest mask registered for it."""

    __slots__ = ("events", "mask", "nclose", "nread", "nwrite")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.mask = 0
        self.nread = 0
        self.nwrite = 0
        self.nclose = 0


class IoMap:
    """fd → ``FdInfo`` for one EventBase, kept in step with its backend."""

    __slots__ = ("_backend", "fds")

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self.fds: dict[int, FdInfo] = {}

    def add(self, ev: Event) -> None:
        """Insert ``ev`` on its fd, widening the backend interest if needed (``evmap_io_add_``)."""
        fd = ev._fd
        if fd < 0:
            return  # an fd-less event can only fire by timeout or active()
        info = self.fds.get(fd)
        fresh = info is None
        if info is None:
            info = FdInfo()
        events = ev._events
        if info.events and bool(info.mask & _ET) != bool(events & _ET):
            raise ValueError(f"fd {fd}: all events on one fd must agree on EV_ET")
        old = info.mask
        new = old | (events & _IO) | (events & _ET)
        if not self._backend.features & EV_FEATURE.EARLY_CLOSE:
            new &= ~_CLOSED
        if new != old:
            self._backend.ctl(fd, old, new)  # may raise: nothing changed yet
            info.mask = new
        if fresh:
            self.fds[fd] = info
        # Newest first, as libevent's evmap lists: that is the activation order.
        info.events.insert(0, ev)
        if events & _READ:
            info.nread += 1
        if events & _WRITE:
            info.nwrite += 1
        if events & _CLOSED:
            info.nclose += 1

    def remove(self, ev: Event) -> None:
        """Take ``ev`` off its fd, narrowing the backend interest (``evmap_io_del_``)."""
        fd = ev._fd
        if fd < 0:
            return
        info = self.fds.get(fd)
        if info is None:
            return
        try:
            info.events.remove(ev)
        except ValueError:
            return
        events = ev._events
        if events & _READ:
            info.nread -= 1
        if events & _WRITE:
            info.nwrite -= 1
        if events & _CLOSED:
            info.nclose -= 1
        if not info.events:
            del self.fds[fd]
            new = 0
        else:
            new = (
                (_READ if info.nread else 0)
                | (_WRITE if info.nwrite else 0)
                | (_CLOSED if info.nclose else 0)
                | (info.mask & _ET)
            )
            if not self._backend.features & EV_FEATURE.EARLY_CLOSE:
                new &= ~_CLOSED
        old = info.mask
        if new != old:
            info.mask = new
            try:
                self._backend.ctl(fd, old, new)
            except OSError as exc:
                log.warn(f"backend refused to update fd {fd}: {exc}")
