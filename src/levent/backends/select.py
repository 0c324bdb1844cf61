"""The select(2) backend: portable, limited to fds below FD_SETSIZE, O(n) per wait."""

from __future__ import annotations

import select as _select

from ..constants import EV, EV_FEATURE
from . import ResultTable, check_fd_open

# Native masks for this backend are simply EV_READ / EV_WRITE bits.
_READ = int(EV.READ)
_WRITE = int(EV.WRITE)
_FD_SETSIZE = 1024


class SelectBackend:
    """libevent's ``selectops``."""

    __slots__ = ("_readers", "_writers", "features", "name", "result_flags")

    def __init__(self) -> None:
        self.name = "select"
        self.features = EV_FEATURE.FDS
        self.result_flags = ResultTable(lambda native: native)
        self._readers: set[int] = set()
        self._writers: set[int] = set()

    def ctl(self, fd: int, old: int, new: int) -> None:
        if new & (_READ | _WRITE):
            if fd >= _FD_SETSIZE:
                raise ValueError(f"fd {fd} is beyond select()'s FD_SETSIZE ({_FD_SETSIZE})")
            if fd not in self._readers and fd not in self._writers:
                check_fd_open(fd)
        if new & _READ:
            self._readers.add(fd)
        else:
            self._readers.discard(fd)
        if new & _WRITE:
            self._writers.add(fd)
        else:
            self._writers.discard(fd)

    def wait(self, timeout: float | None) -> list[tuple[int, int]]:
        readable, writable, _ = _select.select(self._readers, self._writers, (), timeout)
        if not writable:
            return [(fd, _READ) for fd in readable]
        ready = dict.fromkeys(readable, _READ)
        for fd in writable:
            ready[fd] = ready.get(fd, 0) | _WRITE
        return list(ready.items())

    def reinit(self) -> None:
        pass

    def close(self) -> None:
        self._readers.clear()
        self._writers.clear()
