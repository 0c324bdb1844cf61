"""Load the real libevent 2.1 (Debian's libevent-dev) through ctypes for conformance tests.

Tests that compare levent with libevent call :func:`load` and are skipped, with a
message saying what to install, where the C library is absent.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from typing import Any

import pytest

_CANDIDATES = ("libevent-2.1.so.7", "libevent_core-2.1.so.7", "libevent.so")


def load() -> ctypes.CDLL:
    """Return the libevent shared library, or skip the calling test."""
    names = list(_CANDIDATES)
    found = ctypes.util.find_library("event")
    if found:
        names.insert(0, found)
    for name in names:
        try:
            return ctypes.CDLL(name, use_errno=True)
        except OSError:
            continue
    pytest.skip("libevent 2.1 C library not found: apt-get install libevent-dev")


# -- evbuffer (include/event2/buffer.h) -----------------------------------------------
#
# ``CEvbuffer`` wraps libevent's C evbuffer behind the same methods as
# ``levent.Evbuffer`` so one test body can drive either library. Failures that the C
# API reports with -1 or NULL are translated the way levent's API contract reports
# them: ``EvbufferError`` for misuse, ``ValueError`` (and ``ptr.pos == -1``) for an
# out-of-range ``ptr_set``, ``None`` where C returns NULL.


class CEvbufferPtr(ctypes.Structure):
    """``struct evbuffer_ptr`` on 64-bit Linux: ``{ev_ssize_t pos; {void *chain; size_t
    pos_in_chain;} internal_}`` — 24 bytes, checked by :func:`_probe_evbuffer_ptr`."""

    _fields_ = [
        ("pos", ctypes.c_ssize_t),
        ("chain", ctypes.c_void_p),
        ("pos_in_chain", ctypes.c_size_t),
    ]


class CEvbufferIovec(ctypes.Structure):
    """``struct evbuffer_iovec`` = ``{void *iov_base; size_t iov_len}``."""

    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class CEvbufferCbInfo(ctypes.Structure):
    """``struct evbuffer_cb_info`` = ``{size_t orig_size, n_added, n_deleted}``."""

    _fields_ = [
        ("orig_size", ctypes.c_size_t),
        ("n_added", ctypes.c_size_t),
        ("n_deleted", ctypes.c_size_t),
    ]


_CB_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(CEvbufferCbInfo), ctypes.c_void_p)
_evbuffer_lib: ctypes.CDLL | None = None
_libc = ctypes.CDLL(None)
_libc.free.argtypes = [ctypes.c_void_p]
_libc.free.restype = None


def _declare_evbuffer(lib: ctypes.CDLL) -> None:
    vp, sz, ssz, i = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_ssize_t, ctypes.c_int
    pptr = ctypes.POINTER(CEvbufferPtr)
    piov = ctypes.POINTER(CEvbufferIovec)
    signatures: dict[str, tuple[list[object], object]] = {
        "evbuffer_new": ([], vp),
        "evbuffer_free": ([vp], None),
        "evbuffer_get_length": ([vp], sz),
        "evbuffer_get_contiguous_space": ([vp], sz),
        "evbuffer_add": ([vp, ctypes.c_char_p, sz], i),
        "evbuffer_prepend": ([vp, ctypes.c_char_p, sz], i),
        "evbuffer_add_buffer": ([vp, vp], i),
        "evbuffer_prepend_buffer": ([vp, vp], i),
        "evbuffer_remove_buffer": ([vp, vp, sz], i),
        "evbuffer_drain": ([vp, sz], i),
        "evbuffer_remove": ([vp, vp, sz], i),
        "evbuffer_copyout": ([vp, vp, sz], ssz),
        "evbuffer_copyout_from": ([vp, pptr, vp, sz], ssz),
        "evbuffer_pullup": ([vp, ssz], vp),
        "evbuffer_readln": ([vp, ctypes.POINTER(sz), i], vp),
        "evbuffer_search": ([vp, ctypes.c_char_p, sz, pptr], CEvbufferPtr),
        "evbuffer_search_range": ([vp, ctypes.c_char_p, sz, pptr, pptr], CEvbufferPtr),
        "evbuffer_search_eol": ([vp, pptr, ctypes.POINTER(sz), i], CEvbufferPtr),
        "evbuffer_ptr_set": ([vp, pptr, sz, i], i),
        "evbuffer_peek": ([vp, ssz, pptr, piov, i], i),
        "evbuffer_reserve_space": ([vp, ssz, piov, i], i),
        "evbuffer_commit_space": ([vp, piov, i], i),
        "evbuffer_add_reference": ([vp, vp, sz, vp, vp], i),
        "evbuffer_add_cb": ([vp, _CB_FUNC, vp], vp),
    }
    for name, (argtypes, restype) in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = restype


def _probe_evbuffer_ptr(lib: ctypes.CDLL) -> None:
    """Check the struct layout: ptr_set writes exactly 24 bytes, pos first."""
    buf = lib.evbuffer_new()
    try:
        lib.evbuffer_add(buf, b"abcdef", 6)
        raw = (ctypes.c_ubyte * 64)(*([0xAB] * 64))
        rc = lib.evbuffer_ptr_set(buf, ctypes.cast(raw, ctypes.POINTER(CEvbufferPtr)), 4, 0)
        written = [k for k in range(64) if raw[k] != 0xAB]
        probe = CEvbufferPtr.from_buffer(raw)
        if rc != 0 or max(written) >= ctypes.sizeof(CEvbufferPtr) or probe.pos != 4:
            pytest.skip("struct evbuffer_ptr layout differs from the 64-bit Linux one")
        if probe.pos_in_chain != 4 or not probe.chain:
            pytest.skip("struct evbuffer_ptr internals differ from the 64-bit Linux ones")
    finally:
        lib.evbuffer_free(buf)


def evbuffer_lib() -> ctypes.CDLL:
    """libevent with the evbuffer functions declared (and the ptr layout probed), or skip."""
    global _evbuffer_lib
    if _evbuffer_lib is None:
        lib = load()
        _declare_evbuffer(lib)
        _probe_evbuffer_ptr(lib)
        _evbuffer_lib = lib
    return _evbuffer_lib


def _misuse(what: str) -> Exception:
    from levent.errors import EvbufferError

    return EvbufferError(f"libevent: {what} returned -1")


class CEvbuffer:
    """libevent's C evbuffer with ``levent.Evbuffer``'s method names and return types."""

    def __init__(self) -> None:
        self._lib = evbuffer_lib()
        self._buf: int | None = self._lib.evbuffer_new()
        self._reserved: ctypes.Array[CEvbufferIovec] | None = None
        self._keep: list[object] = []  # referenced memory and C callbacks stay alive

    @property
    def handle(self) -> int:
        assert self._buf is not None, "freed"
        return self._buf

    def free(self) -> None:
        if self._buf is not None:
            self._lib.evbuffer_free(self._buf)
            self._buf = None

    def __enter__(self) -> CEvbuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def __len__(self) -> int:
        return int(self._lib.evbuffer_get_length(self.handle))

    def __bytes__(self) -> bytes:
        return self.copyout(len(self))

    def get_contiguous_space(self) -> int:
        return int(self._lib.evbuffer_get_contiguous_space(self.handle))

    def _check(self, rc: int, what: str) -> None:
        if rc < 0:
            raise _misuse(what)

    def add(self, data: bytes) -> None:
        self._check(self._lib.evbuffer_add(self.handle, bytes(data), len(data)), "add")

    def prepend(self, data: bytes) -> None:
        self._check(self._lib.evbuffer_prepend(self.handle, bytes(data), len(data)), "prepend")

    def add_buffer(self, src: CEvbuffer) -> None:
        self._check(self._lib.evbuffer_add_buffer(self.handle, src.handle), "add_buffer")

    def prepend_buffer(self, src: CEvbuffer) -> None:
        rc = self._lib.evbuffer_prepend_buffer(self.handle, src.handle)
        self._check(rc, "prepend_buffer")

    def add_reference(self, data: bytes) -> None:
        """``evbuffer_add_reference`` without a cleanup; the memory is kept alive here."""
        mem = ctypes.create_string_buffer(bytes(data), max(len(data), 1))
        self._keep.append(mem)
        rc = self._lib.evbuffer_add_reference(self.handle, mem, len(data), None, None)
        self._check(rc, "add_reference")

    def add_cb(
        self, cb: Callable[[CEvbuffer, CEvbufferCbInfo, object], None], arg: object = None
    ) -> int:
        """``evbuffer_add_cb``: ``cb(self, info, arg)`` with ``info`` a copy of the C struct."""

        def trampoline(buf: int, info: Any, _arg: int) -> None:
            c = info.contents
            cb(self, CEvbufferCbInfo(c.orig_size, c.n_added, c.n_deleted), arg)

        fn = _CB_FUNC(trampoline)
        self._keep.append(fn)
        return int(self._lib.evbuffer_add_cb(self.handle, fn, None))

    def remove_buffer(self, dst: CEvbuffer, n: int) -> int:
        rc = int(self._lib.evbuffer_remove_buffer(self.handle, dst.handle, n))
        self._check(rc, "remove_buffer")
        return rc

    def drain(self, n: int) -> None:
        self._check(self._lib.evbuffer_drain(self.handle, n), "drain")

    def remove(self, n: int) -> bytes:
        out = ctypes.create_string_buffer(max(n, 1))
        got = int(self._lib.evbuffer_remove(self.handle, out, n))
        self._check(got, "remove")
        return out.raw[:got]

    def copyout(self, n: int) -> bytes:
        out = ctypes.create_string_buffer(max(n, 1))
        got = int(self._lib.evbuffer_copyout(self.handle, out, n))
        self._check(got, "copyout")
        return out.raw[:got]

    def copyout_from(self, ptr: CEvbufferPtr, n: int) -> bytes:
        out = ctypes.create_string_buffer(max(n, 1))
        got = int(self._lib.evbuffer_copyout_from(self.handle, ctypes.byref(ptr), out, n))
        self._check(got, "copyout_from")
        return out.raw[:got]

    def pullup(self, n: int = -1) -> memoryview | None:
        addr = self._lib.evbuffer_pullup(self.handle, n)
        if not addr:
            return None
        size = len(self) if n < 0 else n
        return memoryview((ctypes.c_char * size).from_address(addr)).cast("B").toreadonly()

    def readln(self, style: int = 0) -> bytes | None:
        n_read = ctypes.c_size_t(0)
        addr = self._lib.evbuffer_readln(self.handle, ctypes.byref(n_read), int(style))
        if not addr:
            return None
        try:
            return ctypes.string_at(addr, n_read.value)
        finally:
            _libc.free(addr)

    @staticmethod
    def _ref(ptr: CEvbufferPtr | None) -> object:
        return None if ptr is None else ctypes.byref(ptr)

    def search(self, what: bytes, start: CEvbufferPtr | None = None) -> CEvbufferPtr:
        return self._lib.evbuffer_search(self.handle, bytes(what), len(what), self._ref(start))

    def search_range(
        self, what: bytes, start: CEvbufferPtr | None, end: CEvbufferPtr | None
    ) -> CEvbufferPtr:
        return self._lib.evbuffer_search_range(
            self.handle, bytes(what), len(what), self._ref(start), self._ref(end)
        )

    def search_eol(
        self, start: CEvbufferPtr | None = None, style: int = 0
    ) -> tuple[CEvbufferPtr, int]:
        eol_len = ctypes.c_size_t(0)
        ptr = self._lib.evbuffer_search_eol(
            self.handle, self._ref(start), ctypes.byref(eol_len), int(style)
        )
        return ptr, eol_len.value

    def ptr_set(self, ptr: CEvbufferPtr, position: int, how: int = 0) -> None:
        if self._lib.evbuffer_ptr_set(self.handle, ctypes.byref(ptr), position, int(how)) < 0:
            raise ValueError(f"libevent: ptr_set({position}, how={int(how)}) returned -1")

    def ptr(self, position: int) -> CEvbufferPtr:
        ptr = CEvbufferPtr()
        self.ptr_set(ptr, position)
        return ptr

    def peek_count(self, length: int = -1, start: CEvbufferPtr | None = None) -> int:
        """``evbuffer_peek(b, length, start, NULL, 0)``: how many extents are needed."""
        return int(self._lib.evbuffer_peek(self.handle, length, self._ref(start), None, 0))

    def peek(self, length: int = -1, start: CEvbufferPtr | None = None) -> list[memoryview]:
        n = self.peek_count(length, start)
        vecs = (CEvbufferIovec * max(n, 1))()
        got = int(self._lib.evbuffer_peek(self.handle, length, self._ref(start), vecs, n))
        assert got == n, (got, n)
        return [_view(vecs[k].iov_base, vecs[k].iov_len) for k in range(n)]

    def reserve_space(self, size: int, n_vec: int = 2) -> list[memoryview]:
        vecs = (CEvbufferIovec * n_vec)()
        n = int(self._lib.evbuffer_reserve_space(self.handle, size, vecs, n_vec))
        self._check(n, "reserve_space")
        self._reserved = vecs
        return [_view(vecs[k].iov_base, vecs[k].iov_len, writable=True) for k in range(n)]

    def commit_space(self, views: list[memoryview]) -> None:
        reserved = self._reserved
        if reserved is None or len(views) > len(reserved):
            raise _misuse("commit_space")
        vecs = (CEvbufferIovec * max(len(views), 1))()
        for k, view in enumerate(views):
            vecs[k].iov_base = reserved[k].iov_base
            vecs[k].iov_len = len(view)
        self._check(self._lib.evbuffer_commit_space(self.handle, vecs, len(views)), "commit")


def _view(addr: int | None, size: int, writable: bool = False) -> memoryview:
    if not size or not addr:
        return memoryview(b"")
    view = memoryview((ctypes.c_char * size).from_address(addr)).cast("B")
    return view if writable else view.toreadonly()


# -- bufferevent (include/event2/bufferevent.h) ---------------------------------------
#
# Plain declarations for the socket and pair bufferevents; the conformance tests wrap
# them behind the same Driver interface as levent's BufferEvent.

BEV_DATA_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
BEV_EVENT_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_short, ctypes.c_void_p)


class CTimeval(ctypes.Structure):
    """``struct timeval`` on 64-bit Linux."""

    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


_bufferevent_lib: ctypes.CDLL | None = None


def bufferevent_lib() -> ctypes.CDLL:
    """libevent with the event_base, bufferevent and evbuffer-length functions declared."""
    global _bufferevent_lib
    if _bufferevent_lib is None:
        lib = load()
        vp, sz, i, sh = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_short
        ptv = ctypes.POINTER(CTimeval)
        signatures: dict[str, tuple[list[object], object]] = {
            "event_base_new": ([], vp),
            "event_base_free": ([vp], None),
            "event_base_loop": ([vp, i], i),
            "event_base_loopbreak": ([vp], i),
            "bufferevent_socket_new": ([vp, i, i], vp),
            "bufferevent_pair_new": ([vp, i, ctypes.POINTER(vp)], i),
            "bufferevent_pair_get_partner": ([vp], vp),
            "bufferevent_setcb": ([vp, BEV_DATA_CB, BEV_DATA_CB, BEV_EVENT_CB, vp], None),
            "bufferevent_enable": ([vp, sh], i),
            "bufferevent_disable": ([vp, sh], i),
            "bufferevent_get_enabled": ([vp], sh),
            "bufferevent_setwatermark": ([vp, sh, sz, sz], None),
            "bufferevent_write": ([vp, ctypes.c_char_p, sz], i),
            "bufferevent_read": ([vp, vp, sz], sz),
            "bufferevent_get_input": ([vp], vp),
            "bufferevent_get_output": ([vp], vp),
            "bufferevent_flush": ([vp, sh, i], i),
            "bufferevent_trigger": ([vp, sh, i], None),
            "bufferevent_trigger_event": ([vp, sh, i], None),
            "bufferevent_set_timeouts": ([vp, ptv, ptv], i),
            "bufferevent_free": ([vp], None),
            "evbuffer_get_length": ([vp], sz),
            "evbuffer_drain": ([vp, sz], i),
        }
        for name, (argtypes, restype) in signatures.items():
            fn = getattr(lib, name)
            fn.argtypes = argtypes
            fn.restype = restype
        _bufferevent_lib = lib
    return _bufferevent_lib


def timeval(seconds: float | None) -> Any:
    """A pointer to a ``struct timeval`` for ``seconds``, or None for NULL."""
    if seconds is None:
        return None
    whole = int(seconds)
    return ctypes.pointer(CTimeval(whole, round((seconds - whole) * 1_000_000)))
