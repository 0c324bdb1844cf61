"""The epoll backend (Linux): O(1) readiness, edge-triggered mode, EV_CLOSED via EPOLLRDHUP.

Some facts about epoll that shape this module:

* Interest is registered per *open file description*, not per fd number. If a
  program closes an fd without telling us and the number is reused, the kernel
  has already forgotten the old registration: ``EPOLL_CTL_MOD`` then fails with
  ``ENOENT`` and we fall back to ``EPOLL_CTL_ADD`` (and the reverse on ``EEXIST``).
* Closing an fd removes it from the epoll set, so a later ``EPOLL_CTL_DEL`` fails
  with ``EBADF`` or ``ENOENT``; removal of a dead fd is not an error for us.
* ``epoll_wait`` needs a caller-sized result array. We start small and double it
  whenever a wait fills it, as libevent does, so a busy server gets all its ready
  fds in one call without a huge allocation on every quiet iteration.
"""

from __future__ import annotations

import errno
import select

from ..constants import EV, EV_FEATURE
from . import ResultTable

_EPOLLIN = select.EPOLLIN
_EPOLLOUT = select.EPOLLOUT
_EPOLLRDHUP = select.EPOLLRDHUP
_EPOLLET = select.EPOLLET
_EPOLLERR = select.EPOLLERR
_EPOLLHUP = select.EPOLLHUP

_INITIAL_NEVENTS = 32
_MAX_NEVENTS = 4096


def available() -> bool:
    """True where ``select.epoll`` exists."""
    return hasattr(select, "epoll")


def _native_mask(mask: int) -> int:
    native = 0
    if mask & EV.READ:
        native |= _EPOLLIN
    if mask & EV.WRITE:
        native |= _EPOLLOUT
    if mask & EV.CLOSED:
        native |= _EPOLLRDHUP
    if native and mask & EV.ET:
        native |= _EPOLLET
    return native


def _result(native: int) -> int:
    # libevent's epoll_dispatch: an error, or a hangup without RDHUP, wakes both
    # readers and writers; otherwise each bit maps to its own condition.
    if native & _EPOLLERR:
        return int(EV.READ | EV.WRITE)
    if native & _EPOLLHUP and not native & _EPOLLRDHUP:
        return int(EV.READ | EV.WRITE)
    flags = 0
    if native & _EPOLLIN:
        flags |= EV.READ
    if native & _EPOLLOUT:
        flags |= EV.WRITE
    if native & _EPOLLRDHUP:
        flags |= EV.CLOSED
    return int(flags)


class EpollBackend:
    """libevent's ``epollops`` (without the changelist, which is unsafe with dup'ed fds)."""

    __slots__ = ("_ep", "_masks", "_nevents", "features", "name", "result_flags")

    def __init__(self) -> None:
        self.name = "epoll"
        self.features = EV_FEATURE.ET | EV_FEATURE.O1 | EV_FEATURE.EARLY_CLOSE
        self.result_flags = ResultTable(_result)
        self._ep = select.epoll()
        self._masks: dict[int, int] = {}
        self._nevents = _INITIAL_NEVENTS

    def ctl(self, fd: int, old: int, new: int) -> None:
        native = _native_mask(new)
        ep = self._ep
        if not native:
            if self._masks.pop(fd, None) is None:
                return
            try:
                ep.unregister(fd)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.EBADF, errno.EPERM):
                    raise
            return
        if fd in self._masks:
            try:
                ep.modify(fd, native)
            except FileNotFoundError:
                ep.register(fd, native)
        else:
            try:
                ep.register(fd, native)
            except FileExistsError:
                ep.modify(fd, native)
        self._masks[fd] = native

    def wait(self, timeout: float | None) -> list[tuple[int, int]]:
        nevents = self._nevents
        ready = self._ep.poll(-1 if timeout is None else timeout, nevents)
        if len(ready) == nevents and nevents < _MAX_NEVENTS:
            self._nevents = nevents * 2
        return ready

    def reinit(self) -> None:
        self._ep.close()
        self._ep = select.epoll()
        for fd, native in self._masks.items():
            self._ep.register(fd, native)

    def close(self) -> None:
        self._ep.close()
        self._masks.clear()
