"""The getaddrinfo-level answer cache (libevent 2.2's ``evdns_cache_*``), pure.

Entries map a lower-cased name to its addresses, the address families whose
answers they hold, and an expiry time. Unlike libevent, which arms one timer
event per entry, expiry is checked on lookup: a cache never keeps the loop
alive and costs nothing while idle. The entry count is bounded (oldest
entries are evicted first), so hostile answers cannot grow it without limit.
"""

from __future__ import annotations

import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Final

__all__ = ["AddrInfo", "DnsCache"]

#: One ``socket.getaddrinfo``-style result: ``(family, type, proto, canonname, sockaddr)``.
AddrInfo = tuple[int, int, int, str, tuple[str, int] | tuple[str, int, int, int]]

_AF_INET: Final = int(socket.AF_INET)
_AF_INET6: Final = int(socket.AF_INET6)
_BOTH: Final = frozenset((_AF_INET, _AF_INET6))
DEFAULT_MAX_ENTRIES: Final = 4096


class _Entry:
    __slots__ = ("addresses", "expires", "families")

    def __init__(
        self, addresses: list[tuple[int, str]], families: frozenset[int], expires: float
    ) -> None:
        self.addresses = addresses
        self.families = families
        self.expires = expires


class DnsCache:
    """Name → addresses with a TTL; ``clock`` is the monotonic clock to use."""

    __slots__ = ("_clock", "_entries", "max_entries")

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._clock = clock
        self.max_entries = max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def write(
        self,
        name: str,
        addresses: Iterable[tuple[int, str]],
        ttl: float,
        families: frozenset[int] = _BOTH,
    ) -> None:
        """Remember ``(family, host)`` pairs for ``name`` for ``ttl`` seconds.

        ``families`` says which lookups the entry answers: an entry written
        from an A-only lookup cannot answer an AF_UNSPEC one.
        """
        key = name.lower().rstrip(".")
        unique = list(dict.fromkeys(addresses))
        if ttl <= 0 or not unique:
            self._entries.pop(key, None)
            return
        self._entries[key] = _Entry(unique, families, self._clock() + ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def lookup(self, name: str, family: int) -> list[tuple[int, str]] | None:
        """The cached ``(family, host)`` pairs usable for ``family``, or None on a miss."""
        key = name.lower().rstrip(".")
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            del self._entries[key]
            return None
        if family in (_AF_INET, _AF_INET6):
            if family not in entry.families:
                return None
            return [a for a in entry.addresses if a[0] == family]
        if entry.families != _BOTH:
            return None
        return list(entry.addresses)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
