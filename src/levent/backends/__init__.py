"""Event backends: one module per OS readiness mechanism, behind one narrow interface.

This is levent's ``struct eventop``. The ``EventBase`` alone talks to a backend:
it tells the backend which conditions it wants on each fd (``ctl``) and asks which
fds are ready (``wait``). Everything else — timers, signals, priorities, the
active queues — lives in the base, so a backend stays a thin shim over the
kernel call. Backends speak in ``EV_READ | EV_WRITE | EV_CLOSED | EV_ET`` masks.

``wait`` returns the kernel's own ``(fd, native_mask)`` list untouched (no copy
per iteration); the backend's ``result_flags`` table turns a native mask into the
``EV_*`` result flags libevent would report for it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Protocol

from ..constants import EV_FEATURE

__all__ = [
    "Backend",
    "ResultTable",
    "backend_class",
    "supported_methods",
]


class ResultTable(dict[int, int]):
    """Native readiness mask → ``EV_*`` result flags, computed once per distinct mask."""

    __slots__ = ("_translate",)

    def __init__(self, translate: Callable[[int], int]) -> None:
        super().__init__()
        self._translate = translate

    def __missing__(self, mask: int) -> int:
        flags = self._translate(mask)
        self[mask] = flags
        return flags


class Backend(Protocol):
    """What the EventBase needs from an OS mechanism (libevent's ``struct eventop``)."""

    name: str
    features: EV_FEATURE
    result_flags: ResultTable

    def ctl(self, fd: int, old: int, new: int) -> None:
        """Change interest on ``fd`` from mask ``old`` to ``new`` (0 means none).

        Raises ``OSError`` when the kernel refuses (for example ``EBADF``). A
        removal (``new == 0``) of an fd that was already closed is not an error.
        """

    def wait(self, timeout: float | None) -> list[tuple[int, int]]:
        """Block up to ``timeout`` seconds (``None``: forever) and return ready fds."""

    def reinit(self) -> None:
        """Recreate the kernel object after ``fork`` and re-register every fd."""

    def close(self) -> None:
        """Release the kernel object."""


def _registry() -> dict[str, Callable[[], Backend]]:
    from . import poll, select

    table: dict[str, Callable[[], Backend]] = {}
    if sys.platform != "win32":
        try:
            from . import kqueue

            if kqueue.available():
                table["kqueue"] = kqueue.KqueueBackend
        except ImportError:  # pragma: no cover - platform without kqueue
            pass
        try:
            from . import epoll

            if epoll.available():
                table["epoll"] = epoll.EpollBackend
        except ImportError:  # pragma: no cover - platform without epoll
            pass
    if poll.available():
        table["poll"] = poll.PollBackend
    table["select"] = select.SelectBackend
    return table


#: Preference order, as libevent's ``eventops`` array (best first).
_PREFERENCE = ("kqueue", "epoll", "poll", "select")


def supported_methods() -> list[str]:
    """Names of the backends this OS offers, best first (``event_get_supported_methods``)."""
    table = _registry()
    return [name for name in _PREFERENCE if name in table]


def backend_class(name: str) -> Callable[[], Backend]:
    """The constructor of the backend called ``name``; ``ValueError`` if unknown here."""
    table = _registry()
    try:
        return table[name]
    except KeyError:
        raise ValueError(
            f"unknown or unsupported event method {name!r}; this OS offers {supported_methods()}"
        ) from None


def check_fd_open(fd: int) -> None:
    """Raise ``OSError(EBADF)`` unless ``fd`` is open (poll/select cannot tell at registration)."""
    os.fstat(fd)
