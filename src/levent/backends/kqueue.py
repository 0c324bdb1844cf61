"""The kqueue backend (BSD, macOS): O(1) readiness, edge-triggered through EV_CLEAR.

kqueue tracks reading and writing as separate filters, so one ``ctl`` call may
add one filter and delete the other. Results arrive as one kevent per filter;
``wait`` folds them into ``(fd, mask)`` pairs where the mask uses EV_READ /
EV_WRITE bits directly, so ``result_flags`` is the identity.
"""

from __future__ import annotations

import errno
import select as _select_module
from typing import Any

from ..constants import EV, EV_FEATURE
from . import ResultTable

# The kqueue names exist only on BSD and macOS; typed loosely so that the
# module type-checks on every platform.
select: Any = _select_module

_READ = int(EV.READ)
_WRITE = int(EV.WRITE)
_MAX_EVENTS = 4096


def available() -> bool:
    """True where ``select.kqueue`` exists."""
    return hasattr(select, "kqueue")


class KqueueBackend:
    """libevent's ``kqops`` (signals stay on levent's wakeup-fd mechanism)."""

    __slots__ = ("_kq", "_masks", "features", "name", "result_flags")

    def __init__(self) -> None:
        self.name = "kqueue"
        self.features = EV_FEATURE.ET | EV_FEATURE.O1 | EV_FEATURE.FDS
        self.result_flags = ResultTable(lambda native: native)
        self._kq = select.kqueue()
        self._masks: dict[int, int] = {}

    def _changes(self, fd: int, old: int, new: int) -> list[Any]:
        changes = []
        clear = select.KQ_EV_CLEAR if new & EV.ET else 0
        for bit, kfilter in ((_READ, select.KQ_FILTER_READ), (_WRITE, select.KQ_FILTER_WRITE)):
            if new & bit:
                flags = select.KQ_EV_ADD | select.KQ_EV_ENABLE | clear
                changes.append(select.kevent(fd, kfilter, flags))
            elif old & bit:
                changes.append(select.kevent(fd, kfilter, select.KQ_EV_DELETE))
        return changes

    def ctl(self, fd: int, old: int, new: int) -> None:
        old = self._masks.get(fd, 0)
        changes = self._changes(fd, old, new)
        if new & (_READ | _WRITE):
            self._masks[fd] = new
        else:
            self._masks.pop(fd, None)
        if not changes:
            return
        try:
            self._kq.control(changes, 0, 0)
        except OSError as exc:
            if new & (_READ | _WRITE) or exc.errno not in (errno.ENOENT, errno.EBADF):
                raise

    def wait(self, timeout: float | None) -> list[tuple[int, int]]:
        kevents = self._kq.control(None, max(len(self._masks), 1) * 2 or 1, timeout)
        if len(kevents) > _MAX_EVENTS:  # pragma: no cover - defensive
            kevents = kevents[:_MAX_EVENTS]
        ready: dict[int, int] = {}
        for kev in kevents:
            if kev.filter == select.KQ_FILTER_READ:
                bit = _READ
            elif kev.filter == select.KQ_FILTER_WRITE:
                bit = _WRITE
            else:
                continue
            if kev.flags & select.KQ_EV_ERROR:
                bit = _READ | _WRITE
            ready[int(kev.ident)] = ready.get(int(kev.ident), 0) | bit
        return list(ready.items())

    def reinit(self) -> None:
        self._kq.close()
        self._kq = select.kqueue()
        masks = dict(self._masks)
        self._masks.clear()
        for fd, mask in masks.items():
            self.ctl(fd, 0, mask)

    def close(self) -> None:
        self._kq.close()
        self._masks.clear()
