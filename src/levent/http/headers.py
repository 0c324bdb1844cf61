"""Headers: an ordered, case-insensitive multimap of header lines (libevent's ``evkeyvalq``).

Keys compare ASCII-case-insensitively, duplicates are kept in arrival order,
and :meth:`Headers.find` returns the first match, as ``evhttp_find_header``
does. Keys and values are ``str`` (decoded as Latin-1 from the wire, so every
byte round-trips).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["Headers"]


def _check_key(key: str) -> None:
    if not key or "\r" in key or "\n" in key:
        raise ValueError(f"invalid header name {key!r}")


def _check_value(value: str) -> None:
    # evhttp_add_header: a CR or LF is allowed only as folding (followed by SP/HT).
    if "\r" not in value and "\n" not in value:
        return
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if ch == "\r" or ch == "\n":
            j = i + 1
            if ch == "\r" and j < n and value[j] == "\n":
                j += 1
            if j >= n or value[j] not in " \t":
                raise ValueError(f"invalid header value {value!r}")
            i = j
        i += 1


class Headers:
    """Ordered header lines with case-insensitive keys (``struct evkeyvalq``)."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        if items is not None:
            for key, value in items:
                self.add(key, value)

    def add(self, key: str, value: str) -> None:
        """Append ``key: value`` (``evhttp_add_header``); ValueError for a key with CR/LF or
        empty, or a value with a CR/LF that is not folding."""
        _check_key(key)
        _check_value(value)
        self._items.append((key, value))

    def _append(self, key: str, value: str) -> None:
        # For values the HTTP parser already validated: no second check.
        self._items.append((key, value))

    def find(self, key: str) -> str | None:
        """The first value for ``key``, or None (``evhttp_find_header``)."""
        low = key.lower()
        for k, v in self._items:
            if k.lower() == low:
                return v
        return None

    def find_all(self, key: str) -> list[str]:
        """Every value for ``key``, in order."""
        low = key.lower()
        return [v for k, v in self._items if k.lower() == low]

    def remove(self, key: str) -> bool:
        """Remove the first ``key`` line (``evhttp_remove_header``); False if there was none."""
        low = key.lower()
        items = self._items
        for i, (k, _v) in enumerate(items):
            if k.lower() == low:
                del items[i]
                return True
        return False

    def remove_all(self, key: str) -> int:
        """Remove every ``key`` line; return how many there were."""
        low = key.lower()
        before = len(self._items)
        self._items = [(k, v) for k, v in self._items if k.lower() != low]
        return before - len(self._items)

    def replace(self, key: str, value: str) -> None:
        """Set ``key`` to the single line ``value`` (remove every old one, then add)."""
        _check_key(key)
        _check_value(value)
        self.remove_all(key)
        self._items.append((key, value))

    def clear(self) -> None:
        """Remove every line (``evhttp_clear_headers``)."""
        self._items.clear()

    def items(self) -> list[tuple[str, str]]:
        """A copy of the (key, value) lines in order."""
        return list(self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.find(key) is not None

    def __getitem__(self, key: str) -> str:
        value = self.find(key)
        if value is None:
            raise KeyError(key)
        return value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._items == other._items
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"
