"""The real libevent 2.1's URI, encoding and query utilities, through ctypes.

Conformance tests call :func:`lib` and are skipped, with a message saying what to
install, where the C library cannot be loaded. Each wrapper takes and returns
``bytes`` (what C sees), frees what libevent allocated, and reports failure the way
levent does: ``None`` where C returns NULL or -1.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

import pytest

_CANDIDATES = ("libevent-2.1.so.7", "libevent_extra-2.1.so.7", "libevent.so")
_lib: ctypes.CDLL | None = None
_load_error = ""


@dataclass(frozen=True)
class CUri:
    """The components libevent parsed, as bytes (None where C has NULL)."""

    scheme: bytes | None
    userinfo: bytes | None
    host: bytes | None
    port: int
    path: bytes | None
    query: bytes | None
    fragment: bytes | None
    joined: bytes | None


class _Keyval(ctypes.Structure):
    pass


# struct evkeyval { TAILQ_ENTRY(evkeyval) next; char *key; char *value; }
_Keyval._fields_ = [
    ("tqe_next", ctypes.POINTER(_Keyval)),
    ("tqe_prev", ctypes.c_void_p),
    ("key", ctypes.c_char_p),
    ("value", ctypes.c_char_p),
]


class _Keyvalq(ctypes.Structure):
    """``struct evkeyvalq``: a TAILQ head, ``{first, &last->next}``."""

    _fields_ = [("tqh_first", ctypes.POINTER(_Keyval)), ("tqh_last", ctypes.c_void_p)]

    def init(self) -> None:
        # TAILQ_INIT: empty list, and tqh_last points at tqh_first.
        self.tqh_first = ctypes.POINTER(_Keyval)()
        self.tqh_last = ctypes.addressof(self)  # &tqh_first: the first field, offset 0


def _declare(lib: ctypes.CDLL) -> None:
    vp, cp, i, u = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint
    q = ctypes.POINTER(_Keyvalq)
    signatures: dict[str, tuple[list[object], object]] = {
        "evhttp_uri_new": ([], vp),
        "evhttp_uri_parse_with_flags": ([cp, u], vp),
        "evhttp_uri_free": ([vp], None),
        "evhttp_uri_set_flags": ([vp, u], None),
        "evhttp_uri_get_scheme": ([vp], cp),
        "evhttp_uri_get_userinfo": ([vp], cp),
        "evhttp_uri_get_host": ([vp], cp),
        "evhttp_uri_get_port": ([vp], i),
        "evhttp_uri_get_path": ([vp], cp),
        "evhttp_uri_get_query": ([vp], cp),
        "evhttp_uri_get_fragment": ([vp], cp),
        "evhttp_uri_set_scheme": ([vp, cp], i),
        "evhttp_uri_set_userinfo": ([vp, cp], i),
        "evhttp_uri_set_host": ([vp, cp], i),
        "evhttp_uri_set_port": ([vp, i], i),
        "evhttp_uri_set_path": ([vp, cp], i),
        "evhttp_uri_set_query": ([vp, cp], i),
        "evhttp_uri_set_fragment": ([vp, cp], i),
        "evhttp_uri_join": ([vp, vp, ctypes.c_size_t], vp),
        "evhttp_uriencode": ([cp, ctypes.c_ssize_t, i], vp),
        "evhttp_encode_uri": ([cp], vp),
        "evhttp_uridecode": ([cp, i, ctypes.POINTER(ctypes.c_size_t)], vp),
        "evhttp_decode_uri": ([cp], vp),
        "evhttp_htmlescape": ([cp], vp),
        "evhttp_parse_query": ([cp, q], i),
        "evhttp_parse_query_str": ([cp, q], i),
        "evhttp_find_header": ([q, cp], cp),
        "evhttp_clear_headers": ([q], None),
        "event_mm_free_": ([vp], None),
    }
    for name, (argtypes, restype) in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = restype
    # 2.2 only; conformance for its flags is skipped where it is absent.
    if hasattr(lib, "evhttp_parse_query_str_flags"):
        fn = lib.evhttp_parse_query_str_flags
        fn.argtypes = [cp, q, u]
        fn.restype = i


def lib() -> ctypes.CDLL:
    """The libevent shared library with its signatures declared, or skip the test."""
    global _lib, _load_error
    if _lib is None and not _load_error:
        names = list(_CANDIDATES)
        found = ctypes.util.find_library("event")
        if found:
            names.insert(0, found)
        for name in names:
            try:
                candidate = ctypes.CDLL(name)
                _declare(candidate)
            except (OSError, AttributeError) as exc:
                _load_error = f"{name}: {exc}"
                continue
            _lib = candidate
            break
    if _lib is None:
        pytest.skip(
            f"libevent 2.1 C library not usable ({_load_error}): apt-get install libevent-dev"
        )
    return _lib


def _take(ptr: int | None, size: int | None = None) -> bytes | None:
    """Copy a libevent-allocated string (``size`` bytes, or up to NUL) and free it."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr, size) if size is not None else ctypes.string_at(ptr)
    finally:
        lib().event_mm_free_(ptr)


# -- evhttp_uri ----------------------------------------------------------------------


def _join(c: ctypes.CDLL, handle: int) -> bytes | None:
    # A buffer bigger than anything the corpus produces: a NULL here means the URI
    # itself cannot be joined, not that the buffer was short.
    size = 1 << 16
    buf = ctypes.create_string_buffer(size)
    if not c.evhttp_uri_join(handle, buf, size):
        return None
    return buf.value


def _components(c: ctypes.CDLL, handle: int) -> CUri:
    return CUri(
        scheme=c.evhttp_uri_get_scheme(handle),
        userinfo=c.evhttp_uri_get_userinfo(handle),
        host=c.evhttp_uri_get_host(handle),
        port=c.evhttp_uri_get_port(handle),
        path=c.evhttp_uri_get_path(handle),
        query=c.evhttp_uri_get_query(handle),
        fragment=c.evhttp_uri_get_fragment(handle),
        joined=_join(c, handle),
    )


def uri_parse(s: bytes, flags: int = 0) -> CUri | None:
    """``evhttp_uri_parse_with_flags``: the components, or None where C returns NULL."""
    c = lib()
    handle = c.evhttp_uri_parse_with_flags(s, flags)
    if not handle:
        return None
    try:
        return _components(c, handle)
    finally:
        c.evhttp_uri_free(handle)


def uri_join_limit(s: bytes, limit: int) -> bytes | None:
    """Parse ``s`` and join it into a ``limit``-byte buffer (None where C returns NULL)."""
    c = lib()
    handle = c.evhttp_uri_parse_with_flags(s, 0)
    assert handle, s
    try:
        buf = ctypes.create_string_buffer(max(limit, 1))
        if not c.evhttp_uri_join(handle, buf, limit):
            return None
        return buf.value
    finally:
        c.evhttp_uri_free(handle)


_SETTERS = ("scheme", "userinfo", "host", "port", "path", "query", "fragment")


def uri_set(component: str, value: bytes | int | None, flags: int = 0) -> bool:
    """Whether ``evhttp_uri_set_<component>`` on a new URI with ``flags`` accepts ``value``."""
    assert component in _SETTERS
    c = lib()
    handle = c.evhttp_uri_new()
    try:
        c.evhttp_uri_set_flags(handle, flags)
        return bool(getattr(c, f"evhttp_uri_set_{component}")(handle, value) == 0)
    finally:
        c.evhttp_uri_free(handle)


def uri_build(parts: dict[str, bytes | int | None], flags: int = 0) -> CUri | None:
    """A new URI with each component set in order; None if a setter refuses one."""
    c = lib()
    handle = c.evhttp_uri_new()
    try:
        c.evhttp_uri_set_flags(handle, flags)
        for component, value in parts.items():
            assert component in _SETTERS
            if getattr(c, f"evhttp_uri_set_{component}")(handle, value) != 0:
                return None
        return _components(c, handle)
    finally:
        c.evhttp_uri_free(handle)


# -- encoding ------------------------------------------------------------------------


def uriencode(s: bytes, space_to_plus: bool = False) -> bytes | None:
    """``evhttp_uriencode(s, len(s), space_to_plus)``: NULs inside ``s`` are encoded."""
    return _take(lib().evhttp_uriencode(s, len(s), int(space_to_plus)))


def encode_uri(s: bytes) -> bytes | None:
    """``evhttp_encode_uri`` (a C string: stops at the first NUL)."""
    return _take(lib().evhttp_encode_uri(s))


def uridecode(s: bytes, decode_plus: bool = False) -> bytes | None:
    """``evhttp_uridecode`` with ``size_out``: the exact decoded bytes, NULs included."""
    size = ctypes.c_size_t(0)
    ptr = lib().evhttp_uridecode(s, int(decode_plus), ctypes.byref(size))
    return _take(ptr, size.value)


def decode_uri(s: bytes) -> bytes | None:
    """``evhttp_decode_uri`` (deprecated; the result is a C string)."""
    return _take(lib().evhttp_decode_uri(s))


def htmlescape(s: bytes) -> bytes | None:
    """``evhttp_htmlescape``."""
    return _take(lib().evhttp_htmlescape(s))


# -- queries -------------------------------------------------------------------------


def has_parse_query_str_flags() -> bool:
    """Whether this libevent has 2.2's ``evhttp_parse_query_str_flags``."""
    return hasattr(lib(), "evhttp_parse_query_str_flags")


def _walk(q: _Keyvalq) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    node = q.tqh_first
    while node:
        entry = node.contents
        out.append((entry.key or b"", entry.value or b""))
        node = entry.tqe_next
    return out


def _parse(fn_name: str, s: bytes, *extra: int) -> list[tuple[bytes, bytes]] | None:
    c = lib()
    q = _Keyvalq()
    q.init()
    try:
        if getattr(c, fn_name)(s, ctypes.byref(q), *extra) != 0:
            return None
        return _walk(q)
    finally:
        c.evhttp_clear_headers(ctypes.byref(q))


def parse_query(uri: bytes) -> list[tuple[bytes, bytes]] | None:
    """``evhttp_parse_query`` (whole URI): the (key, value) list, or None for -1."""
    return _parse("evhttp_parse_query", uri)


def parse_query_str(query: bytes) -> list[tuple[bytes, bytes]] | None:
    """``evhttp_parse_query_str``: the (key, value) list, or None for -1."""
    return _parse("evhttp_parse_query_str", query)


def parse_query_str_flags(query: bytes, flags: int) -> list[tuple[bytes, bytes]] | None:
    """``evhttp_parse_query_str_flags`` (2.2); call only if :func:`has_parse_query_str_flags`."""
    return _parse("evhttp_parse_query_str_flags", query, flags)


def find_header(query: bytes, key: bytes) -> bytes | None:
    """``evhttp_find_header`` on the headers ``evhttp_parse_query_str`` made of ``query``."""
    c = lib()
    q = _Keyvalq()
    q.init()
    try:
        if c.evhttp_parse_query_str(query, ctypes.byref(q)) != 0:
            return None
        value: bytes | None = c.evhttp_find_header(ctypes.byref(q), key)
        return value
    finally:
        c.evhttp_clear_headers(ctypes.byref(q))
