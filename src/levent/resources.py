"""Resource guards: the ``ResourceWarning`` for levent objects dropped without ``free()``.

An object that owns kernel resources (an ``EventBase``'s backend and notify
fds) holds a ``ResourceGuard``. ``free()`` disarms it; if the owner is
collected while the guard is still armed, the guard warns and releases what it
was given. The ``__del__`` lives here, on a small plain-Python class, rather
than on the owners: the owners are compiled with mypyc, whose native classes
cannot safely run a finaliser while the interpreter shuts down. This module is
never compiled.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

__all__ = ["ResourceGuard"]


class ResourceGuard:
    """Warns and calls ``release()`` if collected before ``disarm()``."""

    __slots__ = ("armed", "release", "what")

    def __init__(self, what: str, release: Callable[[], None]) -> None:
        self.what = what
        self.release = release
        self.armed = True

    def disarm(self) -> None:
        """The owner was freed properly: nothing to warn about or release."""
        self.armed = False

    def __del__(self) -> None:
        if not self.armed:
            return
        self.armed = False
        try:
            warnings.warn(
                f"unfreed {self.what}; call free() or use 'with'", ResourceWarning, stacklevel=2
            )
            self.release()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass
