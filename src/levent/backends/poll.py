"""The poll(2) backend: any fd kind, O(n) per wait; EV_CLOSED through POLLRDHUP on Linux."""

from __future__ import annotations

import math
import select

from ..constants import EV, EV_FEATURE
from . import ResultTable, check_fd_open

_POLLIN = select.POLLIN
_POLLOUT = select.POLLOUT
_POLLRDHUP: int = getattr(select, "POLLRDHUP", 0)
_POLLERR = select.POLLERR
_POLLHUP = select.POLLHUP
_POLLNVAL = select.POLLNVAL


def available() -> bool:
    """True where ``select.poll`` exists (everywhere but Windows and old macOS)."""
    return hasattr(select, "poll")


def _native_mask(mask: int) -> int:
    native = 0
    if mask & EV.READ:
        native |= _POLLIN
    if mask & EV.WRITE:
        native |= _POLLOUT
    if mask & EV.CLOSED:
        native |= _POLLRDHUP
    return native


def _result(native: int) -> int:
    # libevent's poll_dispatch: HUP, ERR and NVAL wake readers and writers alike.
    if native & (_POLLHUP | _POLLERR | _POLLNVAL):
        native |= _POLLIN | _POLLOUT
    flags = 0
    if native & _POLLIN:
        flags |= EV.READ
    if native & _POLLOUT:
        flags |= EV.WRITE
    if _POLLRDHUP and native & _POLLRDHUP:
        flags |= EV.CLOSED
    return int(flags)


class PollBackend:
    """libevent's ``pollops``."""

    __slots__ = ("_masks", "_poller", "features", "name", "result_flags")

    def __init__(self) -> None:
        self.name = "poll"
        self.features = EV_FEATURE.FDS
        if _POLLRDHUP:
            self.features |= EV_FEATURE.EARLY_CLOSE
        self.result_flags = ResultTable(_result)
        self._poller = select.poll()
        self._masks: dict[int, int] = {}

    def ctl(self, fd: int, old: int, new: int) -> None:
        native = _native_mask(new)
        if not native:
            if self._masks.pop(fd, None) is not None:
                self._poller.unregister(fd)
            return
        if fd not in self._masks:
            # poll(2) only reports a bad fd later, as POLLNVAL; fail now, like epoll.
            check_fd_open(fd)
        self._poller.register(fd, native)
        self._masks[fd] = native

    def wait(self, timeout: float | None) -> list[tuple[int, int]]:
        if timeout is None:
            return self._poller.poll()
        return self._poller.poll(math.ceil(timeout * 1000.0))

    def reinit(self) -> None:
        # poll keeps no kernel state across calls: nothing to rebuild after fork.
        pass

    def close(self) -> None:
        self._masks.clear()
