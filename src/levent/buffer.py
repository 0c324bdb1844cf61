"""Evbuffer: libevent's ``struct evbuffer`` (event2/buffer.h), the queue every byte moves through.

This module owns the byte queue and its fd I/O; it knows nothing of events
except that ``defer_callbacks`` hands change callbacks to a ``Deferred``.

Theory of operation
-------------------
A buffer is a chain of chunks (``_Chunk``) kept in a Python list with a head
index, plus a running byte count (``_len``, libevent's ``total_len``). A chunk
is a live range ``[off, end)`` of one backing object:

* ``bytes`` — zero-copy adds of large ``bytes``, prepends, pullups;
* ``bytearray`` — the *writable* tail: small adds grow it in place, and
  ``read`` / ``reserve_space`` fill its spare capacity ``[end, cap)``;
* ``mmap`` / ``bytes`` read from a file — a materialized file segment;
* nothing yet (``lazy``) — a file segment not yet read, which ``write`` can
  hand to ``os.sendfile`` without ever copying it into Python.

The bytes inside a live range are never modified once they are in the chain;
only the spare capacity of the one chunk marked ``writable`` is written. That
is what lets ``add_buffer`` / ``remove_buffer`` / ``add_buffer_reference`` move
or share chunk objects (and split one chunk into two ranges of the same
backing object) without copying a byte.

Memory: a fully drained chunk leaves the chain at once; the list slot is
cleared and the list is compacted when its dead head grows. A first chunk
whose drained prefix is large (>= 64 KiB and at least as large as what is left)
is replaced by a copy of its live part, so a big chunk drained slowly never
pins the dead memory; the copy costs at most what was drained (amortized O(1)
per byte).

Complexity: ``add`` is amortized O(n) in the bytes added; ``drain`` /
``remove`` are O(bytes + chunks dropped); ``search`` and ``search_eol`` are
O(bytes scanned + chunks * len(pattern)) using ``bytes.find`` inside each
chunk and a small window across each chunk boundary. ``readln`` keeps a
cursor "scanned so far, no EOL found" so that a line arriving one byte at a
time costs O(1) per call, not a rescan; the cursor dies on any change at the
front (drain, remove, prepend, pullup) and after every line removed.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol, TypeVar

from mypy_extensions import trait

from .constants import (
    EVBUF_FS,
    EVBUFFER_CB,
    EVBUFFER_EOL,
    EVBUFFER_FLAG,
    EVBUFFER_PTR,
)
from .errors import BufferFrozenError, EvbufferError

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from .base import EventBase
    from .event import Deferred

__all__ = [
    "ChangeHook",
    "Evbuffer",
    "EvbufferCallback",
    "EvbufferCbEntry",
    "EvbufferCbInfo",
    "EvbufferFileSegment",
    "EvbufferPtr",
    "FileSegmentCleanup",
    "ReferenceCleanup",
]

_T = TypeVar("_T")

#: ``cb(buf, info, arg)`` for ``add_cb``.
EvbufferCallback = Callable[["Evbuffer", "EvbufferCbInfo", Any], object]
#: ``cb(buf, old_len, new_len, arg)`` for the legacy ``setcb``.
_ObsoleteCallback = Callable[["Evbuffer", int, int, Any], object]
#: ``cleanup(data, length, arg)`` for ``add_reference``.
ReferenceCleanup = Callable[[Any, int, Any], object]
#: ``cleanup(segment, flags, arg)`` for ``EvbufferFileSegment.add_cleanup_cb``.
FileSegmentCleanup = Callable[["EvbufferFileSegment", int, Any], object]

# Copied adds go into a tail bytearray that grows in place with ``+=`` (one C
# call, amortised over-allocation); reads and reservations that need spare room
# get a fresh chunk of at least _MIN_CHUNK bytes.
_MIN_CHUNK: Final = 1024
# bytes objects at least this large are appended by reference, not copied.
_ZERO_COPY_MIN: Final = 4096
# remove_buffer copies a split part smaller than this instead of sharing.
_SPLIT_COPY_MAX: Final = 512
# Dead-prefix compaction threshold for the first chunk.
_COMPACT_MIN: Final = 65536
_DEFAULT_MAX_READ: Final = 4096
_CB_ENABLED: Final = int(EVBUFFER_CB.ENABLED)
_CB_USER_FLAGS: Final = 0xFFFF
_FS_CLOSE_ON_FREE: Final = int(EVBUF_FS.CLOSE_ON_FREE)
_FS_DISABLE_MMAP: Final = int(EVBUF_FS.DISABLE_MMAP)
_FS_DISABLE_SENDFILE: Final = int(EVBUF_FS.DISABLE_SENDFILE)
_EOL_ANY: Final = 0
_EOL_CRLF: Final = 1
_EOL_CRLF_STRICT: Final = 2
_EOL_LF: Final = 3
_EOL_NUL: Final = 4
_EMPTY: Final = b""


def _iov_max() -> int:
    try:
        n = os.sysconf("SC_IOV_MAX")
    except (ValueError, OSError, AttributeError):
        n = -1
    return n if n > 0 else 1024


_IOV_MAX: Final = _iov_max()


def _fileno(fd: object) -> int:
    if isinstance(fd, int):
        return int(fd)
    fileno = getattr(fd, "fileno", None)
    if fileno is None:
        raise TypeError(f"expected an int fd or an object with fileno(), got {type(fd).__name__}")
    result = fileno()
    if not isinstance(result, int):
        raise TypeError("fileno() must return an int")
    return int(result)


def _check_size(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{what} must be an int, not {type(n).__name__}")
    return int(n)


def _as_view(data: object) -> memoryview:
    """A flat byte view of any bytes-like object (``TypeError`` otherwise, str included)."""
    if isinstance(data, str):
        raise TypeError("Evbuffer takes bytes-like objects, not str (encode it first)")
    view = memoryview(data)  # type: ignore[arg-type]
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    return view


def _check_style(style: object) -> int:
    s = _check_size(style, "style")
    if s < 0 or s > 4:
        raise ValueError(f"unknown EVBUFFER_EOL style {s}")
    return s


@trait
class ChangeHook:
    """What ``Evbuffer.set_change_hook`` calls: the owner of the buffer (a BufferEvent).

    A trait, not a Protocol: compiled, the buffer then calls its owner through a
    native vtable instead of a Python method lookup, on every change.
    """

    def _buffer_changed(self, buf: Evbuffer, n_added: int, n_deleted: int) -> None:
        """``n_added`` bytes arrived and ``n_deleted`` left ``buf`` (the default ignores it)."""


class _LockLike(Protocol):
    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool: ...

    def release(self) -> None: ...


class EvbufferCbInfo(NamedTuple):
    """What changed since the callback last ran (``struct evbuffer_cb_info``)."""

    orig_size: int
    n_added: int
    n_deleted: int


class EvbufferCbEntry:
    """A registered change callback (``struct evbuffer_cb_entry``); pass it back to remove it."""

    __slots__ = ("arg", "cb", "flags", "obsolete", "removed")

    def __init__(self, cb: Callable[..., object] | None, arg: Any, obsolete: bool) -> None:
        self.cb = cb
        self.arg: Any = arg
        self.flags = _CB_ENABLED
        self.obsolete = obsolete
        self.removed = False

    def __repr__(self) -> str:
        return f"<EvbufferCbEntry {self.cb!r} flags={self.flags:#x}>"


class _Ref:
    """Caller-owned memory added with ``add_reference``; cleanup runs once, at refcount 0."""

    __slots__ = ("arg", "cleanup", "count", "data", "length")

    def __init__(self, data: object, length: int, cleanup: ReferenceCleanup | None, arg: Any):
        self.data = data
        self.length = length
        self.cleanup = cleanup
        self.arg: Any = arg
        self.count = 0

    def decref(self) -> None:
        self.count -= 1
        if self.count == 0:
            cleanup = self.cleanup
            self.cleanup = None
            if cleanup is not None:
                cleanup(self.data, self.length, self.arg)


class EvbufferFileSegment:
    """A reference-counted range of a file (``struct evbuffer_file_segment``).

    ``length=-1`` means "to the end of the file". Add it to buffers with
    ``Evbuffer.add_file_segment`` as often as you like, then call ``free()``;
    the fd is closed (with ``EVBUF_FS_CLOSE_ON_FREE``) and the cleanup
    callback runs when the last buffer lets go of it.
    """

    __slots__ = (
        "_cleanup",
        "_cleanup_arg",
        "_contents",
        "_freed",
        "_lead",
        "_refcnt",
        "_user_freed",
        "fd",
        "flags",
        "length",
        "offset",
    )

    def __init__(self, fd: object, offset: int = 0, length: int = -1, flags: int = 0) -> None:
        fdn = _fileno(fd)
        offset = _check_size(offset, "offset")
        length = _check_size(length, "length")
        if offset < 0:
            raise ValueError("offset must be >= 0")
        if length < -1:
            raise ValueError("length must be >= 0, or -1 for 'to the end of the file'")
        if length == -1:
            length = max(0, os.fstat(fdn).st_size - offset)
        self.fd = fdn
        self.offset = offset
        self.length = length
        self.flags = int(flags)
        self._refcnt = 1
        self._user_freed = False
        self._freed = False
        self._cleanup: FileSegmentCleanup | None = None
        self._cleanup_arg: Any = None
        self._contents: bytes | mmap.mmap | None = None
        self._lead = 0

    def add_cleanup_cb(self, cb: FileSegmentCleanup | None, arg: Any = None) -> None:
        """``evbuffer_file_segment_add_cleanup_cb``: ``cb(segment, flags, arg)`` when freed."""
        self._cleanup = cb
        self._cleanup_arg = arg

    def free(self) -> None:
        """Drop the caller's reference (``evbuffer_file_segment_free``); idempotent."""
        if self._user_freed:
            return
        self._user_freed = True
        self._decref()

    def _incref(self) -> None:
        self._refcnt += 1

    def _decref(self) -> None:
        self._refcnt -= 1
        if self._refcnt > 0:
            return
        self._freed = True
        self._contents = None  # an mmap unmaps once no view exports it
        if self.flags & _FS_CLOSE_ON_FREE and self.fd >= 0:
            fd = self.fd
            self.fd = -1
            with contextlib.suppress(OSError):
                os.close(fd)
        cb = self._cleanup
        self._cleanup = None
        if cb is not None:
            cb(self, self.flags, self._cleanup_arg)

    def _materialize(self) -> bytes | mmap.mmap:
        """The segment's bytes, mapped (or read) once and shared by every chunk."""
        contents = self._contents
        if contents is not None:
            return contents
        if self._freed:
            raise EvbufferError("file segment has been freed")
        if not self.flags & _FS_DISABLE_MMAP and self.length > 0:
            lead = self.offset % mmap.ALLOCATIONGRANULARITY
            try:
                mapped = mmap.mmap(
                    self.fd, self.length + lead, access=mmap.ACCESS_READ, offset=self.offset - lead
                )
            except (OSError, ValueError):
                pass
            else:
                self._contents = mapped
                self._lead = lead
                return mapped
        parts: list[bytes] = []
        done = 0
        while done < self.length:
            piece = os.pread(self.fd, self.length - done, self.offset + done)
            if not piece:
                raise EvbufferError(
                    f"file segment: expected {self.length} bytes, file has only {done}"
                )
            parts.append(piece)
            done += len(piece)
        data = b"".join(parts)
        self._contents = data
        self._lead = 0
        return data

    def __repr__(self) -> str:
        return (
            f"<EvbufferFileSegment fd={self.fd} offset={self.offset} "
            f"length={self.length} refs={self._refcnt}>"
        )


class _Chunk:
    """One live range ``[off, end)`` of a backing object (see the module docstring)."""

    __slots__ = ("buf", "cap", "end", "lazy", "multicast", "off", "ref", "seg", "writable")

    def __init__(self, buf: bytes | bytearray | mmap.mmap, off: int, end: int) -> None:
        self.buf = buf
        self.off = off
        self.end = end
        self.cap = end
        self.writable = False
        self.ref: _Ref | None = None
        self.seg: EvbufferFileSegment | None = None
        self.lazy = False  # a file range not read yet: off/end are file offsets
        self.multicast = False

    def share(self, off: int, end: int) -> _Chunk:
        """A second chunk over part of the same backing object (refcounts follow)."""
        c = _Chunk(self.buf, off, end)
        c.lazy = self.lazy
        c.multicast = self.multicast
        ref = self.ref
        if ref is not None:
            ref.count += 1
            c.ref = ref
        seg = self.seg
        if seg is not None:
            seg._incref()
            c.seg = seg
        return c


def _new_tail(cap: int) -> _Chunk:
    c = _Chunk(bytearray(cap), 0, 0)
    c.cap = cap
    c.writable = True
    return c


_DEAD: Final = _Chunk(_EMPTY, 0, 0)


class EvbufferPtr:
    """A position in an Evbuffer (``struct evbuffer_ptr``); ``pos == -1`` means none.

    A pointer remembers which chunk its position fell in, so searching onward
    from it is O(1) to start; the memo is used only while the buffer's front
    is unchanged and ``pos`` is the value it was computed for, so a pointer
    kept across changes still works (by ``pos``) and never misleads.
    """

    __slots__ = ("_base", "_cpos", "_idx", "_owner", "_ver", "pos")

    def __init__(self, pos: int = 0) -> None:
        self.pos = _check_size(pos, "pos")
        self._owner: Evbuffer | None = None
        self._ver = -1
        self._cpos = -1
        self._idx = 0
        self._base = 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EvbufferPtr):
            return self.pos == other.pos
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EvbufferPtr(pos={self.pos})"


# Never mutated: the "no callbacks" / "no reservation" state of every Evbuffer.
_NO_CBS: Final[list[EvbufferCbEntry]] = []
_NO_CHUNKS: Final[list[_Chunk]] = []
_NO_RESV: Final[list[memoryview]] = []


class Evbuffer:
    """A byte queue: append at the back, consume at the front (``struct evbuffer``).

    ``len(buf)`` is ``evbuffer_get_length``; ``bytes(buf)`` copies the content.
    Methods follow buffer.h one to one (``evbuffer_add(buf, …)`` →
    ``buf.add(…)``); failures raise (``BufferFrozenError`` for a frozen end,
    ``ValueError`` / ``TypeError`` for bad arguments, ``OSError`` from the OS).
    """

    __slots__ = (
        "_back_ver",
        "_cbs",
        "_chunks",
        "_deferred",
        "_flags",
        "_freeze_back",
        "_freeze_front",
        "_front_ver",
        "_head",
        "_hook",
        "_len",
        "_lock",
        "_max_read",
        "_n_add",
        "_n_del",
        "_resv",
        "_resv_ver",
        "_scan_base",
        "_scan_idx",
        "_scan_pos",
        "_scan_style",
        "_spare",
        "_watched",
    )

    def __init__(self) -> None:
        # An empty buffer shares _NO_CHUNKS (memory per connection; and moving
        # a buffer's chunks away then costs no new list).
        self._chunks: list[_Chunk] = _NO_CHUNKS
        self._head = 0
        self._len = 0
        self._n_add = 0
        self._n_del = 0
        # Shared empty lists until first use: most buffers never get a callback
        # or a reservation, and a list per buffer is memory per connection.
        self._cbs: list[EvbufferCbEntry] = _NO_CBS
        # An owner's change hook (a BufferEvent's), and "a hook or callbacks exist".
        self._hook: ChangeHook | None = None
        self._watched = False
        self._deferred: Deferred | None = None
        self._freeze_front = False
        self._freeze_back = False
        self._lock: _LockLike | None = None
        self._flags = 0
        self._max_read = _DEFAULT_MAX_READ
        self._front_ver = 0
        self._back_ver = 0
        self._spare: _Chunk | None = None  # writable chunk waiting outside the chain
        self._resv: list[memoryview] = _NO_RESV
        self._resv_ver = -1
        # readln cursor: no EOL of style _scan_style in [0, _scan_pos);
        # _scan_pos lies in chunk _scan_idx, which starts at _scan_base.
        self._scan_style = -1
        self._scan_pos = 0
        self._scan_idx = 0
        self._scan_base = 0

    # -- Python protocol ------------------------------------------------------

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __bytes__(self) -> bytes:
        return self._copy(0, self._head, 0, self._len)

    def __repr__(self) -> str:
        frozen = ""
        if self._freeze_front:
            frozen += " front-frozen"
        if self._freeze_back:
            frozen += " back-frozen"
        return f"<Evbuffer len={self._len} chunks={len(self._chunks) - self._head}{frozen}>"

    def __enter__(self) -> Evbuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def _locked(self, fn: Callable[..., _T], *args: Any) -> _T:
        lk = self._lock
        assert lk is not None
        lk.acquire()
        try:
            return fn(*args)
        finally:
            lk.release()

    # -- internal helpers -------------------------------------------------------

    def _check_back(self) -> None:
        if self._freeze_back:
            raise BufferFrozenError("the back (end) of this Evbuffer is frozen")

    def _check_front(self) -> None:
        if self._freeze_front:
            raise BufferFrozenError("the front (start) of this Evbuffer is frozen")

    def _front_changed(self) -> None:
        self._front_ver += 1
        self._scan_style = -1

    def _tail(self) -> _Chunk | None:
        chunks = self._chunks
        if len(chunks) > self._head:
            c = chunks[len(chunks) - 1]
            if c.writable:
                return c
        return None

    def _data(self, c: _Chunk) -> bytes | bytearray | mmap.mmap:
        """The chunk's backing object, reading a lazy file range first."""
        if c.lazy:
            seg = c.seg
            assert seg is not None
            contents = seg._materialize()
            shift = seg._lead - seg.offset
            c.buf = contents
            c.off += shift
            c.end += shift
            c.cap = c.end
            c.lazy = False
        return c.buf

    def _own_chunks(self) -> list[_Chunk]:
        """The chunk list, made this buffer's own before it is changed."""
        chunks = self._chunks
        if chunks is _NO_CHUNKS:
            chunks = self._chunks = []
        return chunks

    def _append_chunk(self, c: _Chunk) -> None:
        self._own_chunks().append(c)
        self._len += c.end - c.off

    def _invoke(self) -> None:
        """libevent's evbuffer_invoke_callbacks_: now, or from the loop when deferred."""
        if not self._watched:
            self._n_add = 0
            self._n_del = 0
            return
        deferred = self._deferred
        if deferred is not None:
            deferred.schedule()
            return
        self._run_callbacks()

    def _run_callbacks(self) -> None:
        n_add = self._n_add
        n_del = self._n_del
        if n_add == 0 and n_del == 0:
            return
        self._n_add = 0
        self._n_del = 0
        hook = self._hook
        if hook is not None:
            hook._buffer_changed(self, n_add, n_del)
        cbs = self._cbs
        if not cbs:
            return
        new_size = self._len
        info = EvbufferCbInfo(new_size + n_del - n_add, n_add, n_del)
        for entry in tuple(cbs):
            if entry.removed or not entry.flags & _CB_ENABLED:
                continue
            cb = entry.cb
            assert cb is not None
            if entry.obsolete:
                cb(self, info.orig_size, new_size, entry.arg)
            else:
                cb(self, info, entry.arg)

    def _run_deferred(self) -> None:
        lk = self._lock
        if lk is None:
            self._run_callbacks()
            return
        lk.acquire()
        try:
            self._run_callbacks()
        finally:
            lk.release()

    def _grow_tail(self, t: _Chunk, data: memoryview | bytes, n: int) -> bool:
        """Append n bytes by growing the tail's bytearray in place; False if it cannot.

        Only a tail that ends where its bytearray does (no spare room kept for a
        read or a reservation) grows this way: one C call, amortised by
        bytearray's over-allocation, no slice objects. A view someone still holds
        on it forbids resizing; the caller then starts a new chunk.
        """
        buf = t.buf
        end = t.end
        if end != t.cap or not isinstance(buf, bytearray) or end != len(buf):
            return False
        try:
            buf += data
        except BufferError:
            return False
        t.end = t.cap = end + n
        self._len += n
        self._back_ver += 1
        return True

    def _add_copy(self, view: memoryview | bytes, n: int) -> None:
        """Copy n bytes into the writable tail (and fresh chunks); no callbacks."""
        t = self._tail()
        done = 0
        if t is not None:
            if self._grow_tail(t, view, n):
                return
            space = t.cap - t.end
            if space >= n:
                end = t.end
                t.buf[end : end + n] = view  # type: ignore[index]
                t.end = end + n
                self._len += n
                self._back_ver += 1
                return
            if space > 0:
                end = t.end
                t.buf[end : t.cap] = view[:space]  # type: ignore[index]
                t.end = t.cap
                done = space
        rest = n - done
        spare = self._spare
        if spare is not None and spare.cap - spare.end >= rest:
            c = spare
            self._spare = None
            c.buf[c.end : c.end + rest] = view[done:] if done else view  # type: ignore[index]
            c.end += rest
        else:
            # A tail exactly as long as its bytes: later adds grow it (above).
            c = _Chunk(bytearray(view[done:] if done else view), 0, rest)
            c.writable = True
        self._own_chunks().append(c)
        self._len += n
        self._back_ver += 1

    def _add_data(self, data: object) -> int:
        """Append any bytes-like object; no freeze check, no callbacks."""
        if type(data) is bytes:
            n = len(data)
            if n >= _ZERO_COPY_MIN:
                self._append_chunk(_Chunk(data, 0, n))
                self._back_ver += 1
            elif n:
                self._add_copy(data, n)
            return n
        view = _as_view(data)
        n = view.nbytes
        if n >= _ZERO_COPY_MIN:
            b = view.tobytes()
            self._append_chunk(_Chunk(b, 0, n))
            self._back_ver += 1
        elif n:
            self._add_copy(view, n)
        return n

    def _locate(self, pos: int) -> tuple[int, int]:
        """(index, start position) of the chunk holding pos; (len(chunks), len) at the end."""
        return self._locate_from(pos, self._head, 0)

    def _locate_from(self, pos: int, idx: int, base: int) -> tuple[int, int]:
        """``_locate`` starting at chunk ``idx`` (which starts at ``base <= pos``)."""
        chunks = self._chunks
        nch = len(chunks)
        while idx < nch:
            c = chunks[idx]
            clen = c.end - c.off
            if pos < base + clen:
                return idx, base
            base += clen
            idx += 1
        return idx, base

    def _resolve(self, ptr: EvbufferPtr) -> tuple[int, int]:
        pos = ptr.pos
        if ptr._owner is self and ptr._ver == self._front_ver:
            if ptr._cpos == pos:
                return ptr._idx, ptr._base
            if pos >= ptr._base:
                # Moving forward (ptr_set ADD, searching on): walk on from the memo,
                # so that stepping a pointer through the buffer stays linear.
                idx, base = self._locate_from(pos, ptr._idx, ptr._base)
            else:
                idx, base = self._locate(pos)
        else:
            idx, base = self._locate(pos)
        ptr._owner = self
        ptr._ver = self._front_ver
        ptr._cpos = pos
        ptr._idx = idx
        ptr._base = base
        return idx, base

    def _make_ptr(self, pos: int, idx: int, base: int) -> EvbufferPtr:
        p = EvbufferPtr(pos)
        if pos >= 0:
            p._owner = self
            p._ver = self._front_ver
            p._cpos = pos
            p._idx = idx
            p._base = base
        return p

    def _start(self, start: EvbufferPtr | None) -> tuple[int, int, int]:
        """(pos, idx, base) for a start pointer; pos -1 when it is outside the buffer."""
        if start is None:
            return 0, self._head, 0
        if not isinstance(start, EvbufferPtr):
            raise TypeError("start must be an EvbufferPtr or None")
        pos = start.pos
        if pos < 0 or pos > self._len:
            return -1, 0, 0
        idx, base = self._resolve(start)
        return pos, idx, base

    def _copy(self, pos: int, idx: int, base: int, n: int) -> bytes:
        """n bytes from pos (chunk idx starting at base) as one bytes object."""
        if n <= 0:
            return _EMPTY
        chunks = self._chunks
        c = chunks[idx]
        buf = self._data(c)
        lo = c.off + pos - base
        if lo + n <= c.end:
            if type(buf) is bytes and lo == 0 and n == len(buf):
                return buf
            return bytes(memoryview(buf)[lo : lo + n])
        parts: list[memoryview] = []
        need = n
        while True:
            take = c.end - lo
            if take > need:
                take = need
            parts.append(memoryview(buf)[lo : lo + take])
            need -= take
            if need <= 0:
                break
            idx += 1
            c = chunks[idx]
            buf = self._data(c)
            lo = c.off
        return _EMPTY.join(parts)

    def _release(self, dropped: list[_Chunk]) -> None:
        """Run reference cleanups / segment frees for chunks that left the chain."""
        first: BaseException | None = None
        for c in dropped:
            try:
                ref = c.ref
                if ref is not None:
                    c.ref = None
                    ref.decref()
                seg = c.seg
                if seg is not None:
                    c.seg = None
                    seg._decref()
            except Exception as exc:  # run every cleanup, then report the first failure
                if first is None:
                    first = exc
        if first is not None:
            raise first

    def _drain(self, n: int) -> None:
        """Drop n (0 < n <= len) bytes from the front; callbacks included."""
        chunks = self._chunks
        i = self._head
        left = n
        dropped: list[_Chunk] | None = None
        if n >= self._len:
            for k in range(i, len(chunks)):
                c = chunks[k]
                if c.ref is not None or c.seg is not None:
                    if dropped is None:
                        dropped = []
                    dropped.append(c)
            chunks.clear()
            self._head = 0
            n = self._len
        else:
            while left > 0:
                c = chunks[i]
                clen = c.end - c.off
                if left >= clen:
                    left -= clen
                    chunks[i] = _DEAD
                    i += 1
                    if c.ref is not None or c.seg is not None:
                        if dropped is None:
                            dropped = []
                        dropped.append(c)
                else:
                    c.off += left
                    left = 0
                    if c.off >= _COMPACT_MIN and c.ref is None and not c.lazy:
                        live = c.end - c.off
                        if c.off >= live:
                            self._compact(c)
            if i > 32 and i * 2 > len(chunks):
                del chunks[:i]
                i = 0
            self._head = i
        self._len -= n
        self._front_changed()
        if self._watched:
            self._n_del += n
        if dropped is not None:
            self._release(dropped)
        if self._watched:
            self._invoke()

    def _compact(self, c: _Chunk) -> None:
        """Replace a mostly-drained first chunk by a copy of its live bytes."""
        data = bytes(memoryview(self._data(c))[c.off : c.end])
        seg = c.seg
        c.buf = data
        c.off = 0
        c.end = c.cap = len(data)
        c.writable = False
        c.multicast = False
        if seg is not None:
            c.seg = None
            seg._decref()
        self._back_ver += 1  # any reservation in this chunk is void

    # -- length and space -------------------------------------------------------

    def get_length(self) -> int:
        """``evbuffer_get_length`` (also ``len(buf)``)."""
        return self._len

    def get_contiguous_space(self) -> int:
        """``evbuffer_get_contiguous_space``: bytes stored in the first chunk."""
        if self._len == 0:
            return 0
        c = self._chunks[self._head]
        return c.end - c.off

    def expand(self, n: int) -> None:
        """``evbuffer_expand``: make room for n more bytes without another allocation."""
        n = _check_size(n, "n")
        if n < 0:
            raise ValueError("n must be >= 0")
        if self._lock is not None:
            self._locked(self._expand, n)
        else:
            self._expand(n)

    def _expand(self, n: int) -> None:
        t = self._tail()
        if t is not None and t.cap - t.end >= n:
            return
        spare = self._spare
        if spare is not None and spare.cap - spare.end >= n:
            return
        self._spare = _new_tail(max(n, _MIN_CHUNK))

    # -- adding -------------------------------------------------------------

    def add(self, data: Buffer) -> None:
        """``evbuffer_add``: append a copy of data (large ``bytes`` are kept by reference)."""
        if self._lock is not None:
            self._locked(self._add, data)
            return
        if type(data) is bytes and not self._freeze_back and not self._watched:
            # Fast path, the common one: a small bytes object onto a tail that can
            # grow in place — nothing else to do (no callbacks, no freeze).
            n = len(data)
            if n < _ZERO_COPY_MIN:
                t = self._tail()
                if t is not None and self._grow_tail(t, data, n):
                    return
        self._add(data)

    def _add(self, data: object) -> None:
        if self._freeze_back:
            self._check_back()
        n = self._add_data(data)
        if n and self._watched:
            self._n_add += n
            self._invoke()

    def add_printf(self, fmt: str | bytes, *args: object) -> int:
        """``evbuffer_add_printf``: ``%``-format and append; returns the bytes added."""
        if isinstance(fmt, bytes):
            data = fmt % args
        elif isinstance(fmt, str):
            data = (fmt % args).encode()
        else:
            raise TypeError("fmt must be str or bytes")
        if self._lock is not None:
            self._locked(self._add, data)
        else:
            self._add(data)
        return len(data)

    def add_vprintf(self, fmt: str | bytes, args: tuple[object, ...]) -> int:
        """``evbuffer_add_vprintf``: ``add_printf`` with the arguments as one tuple."""
        return self.add_printf(fmt, *args)

    def add_iovec(self, vecs: Iterable[Buffer]) -> int:
        """``evbuffer_add_iovec``: append several pieces; returns their total length."""
        views = [_as_view(v) for v in vecs]
        if self._lock is not None:
            return self._locked(self._add_iovec, views)
        return self._add_iovec(views)

    def _add_iovec(self, views: list[memoryview]) -> int:
        self._check_back()
        total = 0
        for v in views:
            self._add(v)
            total += v.nbytes
        return total

    def add_reference(
        self, data: Buffer, cleanup: ReferenceCleanup | None = None, arg: Any = None
    ) -> None:
        """``evbuffer_add_reference``: append data without copying it.

        ``cleanup(data, len(data), arg)`` runs exactly once, when the last of
        these bytes has left every buffer (drained, removed, written or freed).
        The caller must not change data meanwhile.
        """
        view = _as_view(data)
        self._add_ref(data, view, 0, view.nbytes, cleanup, arg, view.nbytes)

    def add_reference_with_offset(
        self,
        data: Buffer,
        offset: int,
        length: int,
        cleanup: ReferenceCleanup | None = None,
        arg: Any = None,
    ) -> None:
        """``evbuffer_add_reference_with_offset`` (2.2): data[offset:offset+length] by reference.

        The cleanup receives ``(data, offset + length, arg)`` as in libevent.
        """
        view = _as_view(data)
        offset = _check_size(offset, "offset")
        length = _check_size(length, "length")
        if offset < 0 or length < 0 or offset + length > view.nbytes:
            raise ValueError("offset/length outside the data")
        self._add_ref(data, view, offset, length, cleanup, arg, offset + length)

    def _add_ref(
        self,
        data: object,
        view: memoryview,
        offset: int,
        length: int,
        cleanup: ReferenceCleanup | None,
        arg: Any,
        report_len: int,
    ) -> None:
        if self._lock is not None:
            self._locked(self._add_ref_locked, data, view, offset, length, cleanup, arg, report_len)
        else:
            self._add_ref_locked(data, view, offset, length, cleanup, arg, report_len)

    def _add_ref_locked(
        self,
        data: object,
        view: memoryview,
        offset: int,
        length: int,
        cleanup: ReferenceCleanup | None,
        arg: Any,
        report_len: int,
    ) -> None:
        self._check_back()  # frozen: refused, and the cleanup is not called (as libevent)
        ref = _Ref(data, report_len, cleanup, arg)
        if length == 0:
            ref.count = 1
            ref.decref()  # no byte ever entered the buffer: done with it now
            return
        # bytes, bytearray and mmap are kept as they are (zero copy); any other
        # buffer (a memoryview slice, an array) is copied once, since a chunk
        # needs an object with find().
        keep = isinstance(data, (bytes, bytearray, mmap.mmap))
        backing: bytes | bytearray | mmap.mmap = data if keep else view.tobytes()  # type: ignore[assignment]
        c = _Chunk(backing, offset, offset + length)
        ref.count = 1
        c.ref = ref
        self._append_chunk(c)
        self._back_ver += 1
        if self._watched:
            self._n_add += length
            self._invoke()

    def add_buffer(self, src: Evbuffer) -> None:
        """``evbuffer_add_buffer``: move all of src to the end of self, without copying."""
        if not isinstance(src, Evbuffer):
            raise TypeError("src must be an Evbuffer")
        if self._lock is not None:
            self._locked(self._add_buffer, src)
        else:
            self._add_buffer(src)

    def _add_buffer(self, src: Evbuffer) -> None:
        n = src._len
        if n == 0 or src is self:
            return
        if self._freeze_back:
            self._check_back()
        if src._freeze_front:
            src._check_front()
        moved = src._chunks[src._head :] if src._head else src._chunks
        src._chunks = _NO_CHUNKS
        src._head = 0
        src._len = 0
        src._front_changed()
        src._back_ver += 1
        if self._len == 0:
            self._chunks = moved
            self._head = 0
            self._front_changed()
        else:
            self._own_chunks().extend(moved)
        self._len += n
        self._back_ver += 1
        if src._watched:
            src._n_del += n
        if self._watched:
            self._n_add += n
        src._invoke()
        self._invoke()

    def prepend(self, data: Buffer) -> None:
        """``evbuffer_prepend``: insert a copy of data at the front."""
        if self._lock is not None:
            self._locked(self._prepend, data)
        else:
            self._prepend(data)

    def _prepend(self, data: object) -> None:
        self._check_front()
        if type(data) is bytes:
            b: bytes = data
        else:
            b = _as_view(data).tobytes()
        n = len(b)
        if n == 0:
            return
        c = _Chunk(b, 0, n)
        if self._head > 0:
            self._head -= 1
            self._own_chunks()[self._head] = c
        else:
            self._own_chunks().insert(0, c)
        self._len += n
        self._front_changed()
        if self._watched:
            self._n_add += n
            self._invoke()

    def prepend_buffer(self, src: Evbuffer) -> None:
        """``evbuffer_prepend_buffer``: move all of src to the front of self."""
        if not isinstance(src, Evbuffer):
            raise TypeError("src must be an Evbuffer")
        if self._lock is not None:
            self._locked(self._prepend_buffer, src)
        else:
            self._prepend_buffer(src)

    def _prepend_buffer(self, src: Evbuffer) -> None:
        n = src._len
        if n == 0 or src is self:
            return
        self._check_front()
        src._check_front()
        moved = src._chunks[src._head :]
        src._chunks = _NO_CHUNKS
        src._head = 0
        src._len = 0
        src._front_changed()
        src._back_ver += 1
        moved.extend(self._chunks[self._head :])
        self._chunks = moved
        self._head = 0
        self._len += n
        self._front_changed()
        if src._watched:
            src._n_del += n
        if self._watched:
            self._n_add += n
        src._invoke()
        self._invoke()

    def add_buffer_reference(self, src: Evbuffer) -> None:
        """``evbuffer_add_buffer_reference``: share src's bytes at the end of self; src unchanged.

        Refused (``EvbufferError``) when src is self, when src holds file
        segments or bytes it itself shares from another buffer (libevent's
        multicast chains), and (``BufferFrozenError``) when self's back is frozen.
        """
        if not isinstance(src, Evbuffer):
            raise TypeError("src must be an Evbuffer")
        if self._lock is not None:
            self._locked(self._add_buffer_reference, src)
        else:
            self._add_buffer_reference(src)

    def _add_buffer_reference(self, src: Evbuffer) -> None:
        n = src._len
        if n == 0:
            return
        self._check_back()
        if src is self:
            raise EvbufferError("add_buffer_reference: a buffer cannot reference itself")
        chunks = src._chunks
        for k in range(src._head, len(chunks)):
            c = chunks[k]
            if c.seg is not None or c.multicast:
                raise EvbufferError(
                    "add_buffer_reference: src holds file segments or shared (multicast) data"
                )
        for k in range(src._head, len(chunks)):
            c = chunks[k]
            c.writable = False  # shared bytes are immutable from now on (as libevent)
            shared = c.share(c.off, c.end)
            shared.multicast = True
            self._own_chunks().append(shared)
        self._len += n
        self._back_ver += 1
        src._back_ver += 1
        if self._watched:
            self._n_add += n
            self._invoke()

    def add_file(self, fd: object, offset: int = 0, length: int = -1) -> None:
        """``evbuffer_add_file``: append a file range; the fd is closed when done with.

        ``length=-1`` means to the end of the file. If the call raises, the fd
        stays the caller's.
        """
        seg = EvbufferFileSegment(fd, offset, length, _FS_CLOSE_ON_FREE)
        try:
            self.add_file_segment(seg, 0, -1)
        except BaseException:
            seg.flags &= ~_FS_CLOSE_ON_FREE
            seg.free()
            raise
        seg.free()

    def add_file_segment(self, seg: EvbufferFileSegment, offset: int = 0, length: int = -1) -> None:
        """``evbuffer_add_file_segment``: append part of a segment (offsets relative to it)."""
        if not isinstance(seg, EvbufferFileSegment):
            raise TypeError("seg must be an EvbufferFileSegment")
        offset = _check_size(offset, "offset")
        length = _check_size(length, "length")
        if self._lock is not None:
            self._locked(self._add_file_segment, seg, offset, length)
        else:
            self._add_file_segment(seg, offset, length)

    def _add_file_segment(self, seg: EvbufferFileSegment, offset: int, length: int) -> None:
        self._check_back()
        if seg._freed:
            raise EvbufferError("file segment has been freed")
        if offset < 0 or offset > seg.length:
            raise ValueError("offset outside the segment")
        if length == -1:
            length = seg.length - offset
        if length < 0 or offset + length > seg.length:
            raise ValueError("offset + length beyond the end of the segment")
        if length == 0:
            return
        start = seg.offset + offset
        c = _Chunk(_EMPTY, start, start + length)
        c.lazy = True
        seg._incref()
        c.seg = seg
        if seg.flags & _FS_DISABLE_SENDFILE:
            self._data(c)
        self._append_chunk(c)
        self._back_ver += 1
        if self._watched:
            self._n_add += length
            self._invoke()

    # -- reserve / commit ----------------------------------------------------

    def reserve_space(self, size: int, n_vec: int = 2) -> list[memoryview]:
        """``evbuffer_reserve_space``: writable extents (total >= size) at the end.

        Write into them, then ``commit_space`` the views (shortened with
        ``v[:k]`` to what you used). Nothing is added until the commit.
        """
        size = _check_size(size, "size")
        n_vec = _check_size(n_vec, "n_vec")
        if size < 0:
            raise ValueError("size must be >= 0")
        if n_vec < 1:
            raise ValueError("n_vec must be >= 1")
        if self._lock is not None:
            return self._locked(self._reserve, size, n_vec)
        return self._reserve(size, n_vec)

    def _reserve(self, size: int, n_vec: int) -> list[memoryview]:
        self._check_back()
        t = self._tail()
        space = t.cap - t.end if t is not None else 0
        vecs: list[memoryview] = []
        if t is not None and space >= size and space > 0:
            vecs.append(memoryview(t.buf)[t.end : t.cap])
        else:
            need = size - space if (n_vec >= 2 and space > 0) else size
            spare = self._spare
            if spare is None or spare.cap - spare.end < need:
                spare = _new_tail(max(need, _MIN_CHUNK))
                self._spare = spare
            if t is not None and space > 0 and n_vec >= 2:
                vecs.append(memoryview(t.buf)[t.end : t.cap])
            vecs.append(memoryview(spare.buf)[spare.end : spare.cap])
        self._resv = vecs
        self._resv_ver = self._back_ver
        return list(vecs)

    def commit_space(self, vecs: Sequence[memoryview]) -> None:
        """``evbuffer_commit_space``: add the bytes written into reserved extents."""
        if self._lock is not None:
            self._locked(self._commit, vecs)
        else:
            self._commit(vecs)

    def _commit(self, vecs: Sequence[memoryview]) -> None:
        self._check_back()
        if len(vecs) == 0:
            return
        resv = self._resv
        if self._resv_ver != self._back_ver or len(vecs) > len(resv):
            raise EvbufferError("commit_space: no matching reservation (data added meanwhile?)")
        sizes: list[int] = []
        for i in range(len(vecs)):
            v = vecs[i]
            r = resv[i]
            if not isinstance(v, memoryview) or v.obj is not r.obj or v.nbytes > r.nbytes:
                raise EvbufferError("commit_space: extent does not match the reservation")
            sizes.append(v.nbytes)
        t = self._tail()
        added = 0
        for i in range(len(vecs)):
            n = sizes[i]
            if n == 0:
                continue
            if t is not None and resv[i].obj is t.buf:
                t.end += n
            else:
                spare = self._spare
                if spare is None or resv[i].obj is not spare.buf:
                    raise EvbufferError("commit_space: extent does not match the reservation")
                self._spare = None
                spare.end += n
                self._own_chunks().append(spare)
                t = spare
            added += n
        self._resv = _NO_RESV
        self._resv_ver = -1
        if added:
            self._len += added
            self._back_ver += 1
            if self._watched:
                self._n_add += added
                self._invoke()

    # -- removing -------------------------------------------------------------

    def drain(self, n: int) -> None:
        """``evbuffer_drain``: discard the first n bytes (all of them when n >= len)."""
        n = _check_size(n, "n")
        if n < 0:
            raise ValueError("n must be >= 0")
        if self._lock is not None:
            self._locked(self._drain_pub, n)
        else:
            self._drain_pub(n)

    def _drain_pub(self, n: int) -> None:
        if self._len == 0:
            return
        self._check_front()
        if n > 0:
            self._drain(n if n < self._len else self._len)

    def remove(self, n: int) -> bytes:
        """``evbuffer_remove``: take up to n bytes from the front."""
        n = _check_size(n, "n")
        if n < 0:
            raise ValueError("n must be >= 0")
        if self._lock is not None:
            return self._locked(self._remove, n)
        return self._remove(n)

    def _remove(self, n: int) -> bytes:
        if n > self._len:
            n = self._len
        if n == 0:
            return _EMPTY
        self._check_front()
        data = self._copy(0, self._head, 0, n)
        self._drain(n)
        return data

    def copyout(self, n: int) -> bytes:
        """``evbuffer_copyout``: copy up to n bytes from the front, leaving them there."""
        return self.copyout_from(None, n)

    def copyout_from(self, ptr: EvbufferPtr | None, n: int) -> bytes:
        """``evbuffer_copyout_from``: copy up to n bytes starting at ptr."""
        n = _check_size(n, "n")
        if n < 0:
            raise ValueError("n must be >= 0")
        if self._lock is not None:
            return self._locked(self._copyout_from, ptr, n)
        return self._copyout_from(ptr, n)

    def _copyout_from(self, ptr: EvbufferPtr | None, n: int) -> bytes:
        pos, idx, base = self._start(ptr)
        if pos < 0:
            raise ValueError("copyout_from: the pointer is not inside the buffer")
        if n > self._len - pos:
            n = self._len - pos
        if n == 0:
            return _EMPTY
        self._check_front()  # libevent refuses copyout from a frozen front too
        return self._copy(pos, idx, base, n)

    def remove_buffer(self, dst: Evbuffer, n: int) -> int:
        """``evbuffer_remove_buffer``: move up to n bytes to the end of dst; returns the count."""
        if not isinstance(dst, Evbuffer):
            raise TypeError("dst must be an Evbuffer")
        n = _check_size(n, "n")
        if n < 0:
            raise ValueError("n must be >= 0")
        if self._lock is not None:
            return self._locked(self._remove_buffer, dst, n)
        return self._remove_buffer(dst, n)

    def _remove_buffer(self, dst: Evbuffer, n: int) -> int:
        if n == 0 or dst is self:
            return 0
        dst._check_back()
        self._check_front()
        if n >= self._len:
            n = self._len
            dst._add_buffer(self)
            return n
        chunks = self._chunks
        i = self._head
        left = n
        while left > 0:
            c = chunks[i]
            clen = c.end - c.off
            if left >= clen:
                dst._own_chunks().append(c)
                chunks[i] = _DEAD
                left -= clen
                i += 1
            else:
                if left < _SPLIT_COPY_MAX and not c.lazy:
                    # a small piece is cheaper to copy than to pin a whole chunk
                    buf = self._data(c)
                    dst._add_copy(memoryview(buf)[c.off : c.off + left], left)
                    dst._len -= left  # _add_copy counted it; dst._len += n below
                else:
                    dst._own_chunks().append(c.share(c.off, c.off + left))
                c.off += left
                left = 0
        if i > 32 and i * 2 > len(chunks):
            del chunks[:i]
            i = 0
        self._head = i
        self._len -= n
        self._front_changed()
        dst._len += n
        dst._back_ver += 1
        if dst._watched:
            dst._n_add += n
        if self._watched:
            self._n_del += n
        dst._invoke()
        self._invoke()
        return n

    # -- pullup, peek, pointers ---------------------------------------------------

    def pullup(self, n: int = -1) -> memoryview | None:
        """``evbuffer_pullup``: make the first n bytes (all if -1) contiguous and view them.

        Returns None where libevent returns NULL: n == 0, n > len, or an empty
        buffer with -1. The view is read-only and valid until the buffer changes.
        """
        n = _check_size(n, "n")
        if self._lock is not None:
            return self._locked(self._pullup, n)
        return self._pullup(n)

    def _pullup(self, n: int) -> memoryview | None:
        if n < 0:
            n = self._len
        if n == 0 or n > self._len:
            return None
        chunks = self._chunks
        c = chunks[self._head]
        buf = self._data(c)
        if c.end - c.off >= n:
            return memoryview(buf)[c.off : c.off + n].toreadonly()
        data = self._copy(0, self._head, 0, n)
        # drop what was copied, keep the rest, without callbacks (length is unchanged)
        i = self._head
        left = n
        dropped: list[_Chunk] = []
        while left > 0:
            c = chunks[i]
            clen = c.end - c.off
            if left >= clen:
                left -= clen
                chunks[i] = _DEAD
                i += 1
                if c.ref is not None or c.seg is not None:
                    dropped.append(c)
            else:
                self._data(c)
                c.off += left
                left = 0
        first = _Chunk(data, 0, n)
        i -= 1
        chunks[i] = first
        self._head = i
        self._front_changed()
        if dropped:
            self._release(dropped)
        return memoryview(data).toreadonly()

    def ptr_set(self, ptr: EvbufferPtr, position: int, how: int = EVBUFFER_PTR.SET) -> None:
        """``evbuffer_ptr_set``: move ptr to position (SET) or by position (ADD).

        The valid range is 0..len inclusive; outside it ``ptr.pos`` becomes -1
        and ``ValueError`` is raised.
        """
        if not isinstance(ptr, EvbufferPtr):
            raise TypeError("ptr must be an EvbufferPtr")
        position = _check_size(position, "position")
        how = _check_size(how, "how")
        if position < 0:
            raise ValueError("position must be >= 0")
        if how == EVBUFFER_PTR.SET:
            new = position
        elif how == EVBUFFER_PTR.ADD:
            if ptr.pos < 0:
                raise ValueError("ptr_set(ADD) on an invalid pointer")
            new = ptr.pos + position
        else:
            raise ValueError(f"unknown EVBUFFER_PTR mode {how}")
        if new > self._len:
            ptr.pos = -1
            ptr._owner = None
            raise ValueError(f"position {new} is beyond the end of the buffer ({self._len})")
        ptr.pos = new
        self._resolve(ptr)

    def ptr(self, position: int = 0) -> EvbufferPtr:
        """A new pointer at position (``ValueError`` outside 0..len)."""
        p = EvbufferPtr(0)
        self.ptr_set(p, position)
        return p

    def peek(self, length: int = -1, start: EvbufferPtr | None = None) -> list[memoryview]:
        """``evbuffer_peek``: read-only views of the chunks covering length bytes from start.

        All bytes if length is -1. The last view may extend past length (as
        libevent); ``len(result)`` is libevent's return value.
        """
        length = _check_size(length, "length")
        if self._lock is not None:
            return self._locked(self._peek, length, start)
        return self._peek(length, start)

    def _peek(self, length: int, start: EvbufferPtr | None) -> list[memoryview]:
        chunks = self._chunks
        out: list[memoryview] = []
        so_far = 0
        if start is not None:
            pos, idx, base = self._start(start)
            if pos < 0:
                raise ValueError("peek: the pointer is not inside the buffer")
            if pos == self._len:
                return out
            c = chunks[idx]
            buf = self._data(c)
            lo = c.off + pos - base
            out.append(memoryview(buf)[lo : c.end].toreadonly())
            so_far = c.end - lo
            idx += 1
        else:
            idx = self._head
        nch = len(chunks)
        while idx < nch:
            if length >= 0 and so_far >= length:
                break
            c = chunks[idx]
            buf = self._data(c)
            out.append(memoryview(buf)[c.off : c.end].toreadonly())
            so_far += c.end - c.off
            idx += 1
        return out

    # -- searching ------------------------------------------------------------

    def _find(self, pat: bytes, pos: int, idx: int, base: int, limit: int) -> tuple[int, int, int]:
        """Leftmost pat at >= pos ending <= limit: (pos, idx, base), pos -1 if none."""
        m = len(pat)
        chunks = self._chunks
        nch = len(chunks)
        while idx < nch and base < limit:
            c = chunks[idx]
            buf = self._data(c)
            clen = c.end - c.off
            lo = c.off + pos - base
            in_limit = limit - base
            hi = c.end if in_limit >= clen else c.off + in_limit
            r = buf.find(pat, lo, hi)
            if r >= 0:
                return base + r - c.off, idx, base
            if m > 1 and hi == c.end and idx + 1 < nch:
                # a match that starts in this chunk and continues into the next ones
                s = c.end - m + 1
                if s < lo:
                    s = lo
                head = bytes(memoryview(buf)[s : c.end])
                need = m - 1
                parts = [head]
                k = idx + 1
                while need > 0 and k < nch:
                    c2 = chunks[k]
                    b2 = self._data(c2)
                    take = c2.end - c2.off
                    if take > need:
                        take = need
                    parts.append(bytes(memoryview(b2)[c2.off : c2.off + take]))
                    need -= take
                    k += 1
                window = _EMPTY.join(parts)
                r = window.find(pat)
                if 0 <= r < len(head):
                    found = base + s - c.off + r
                    if found + m <= limit:
                        return found, idx, base
            base += clen
            pos = base
            idx += 1
        return -1, idx, base

    def _find_char(self, ch: bytes, pos: int, idx: int, base: int) -> tuple[int, int, int]:
        chunks = self._chunks
        nch = len(chunks)
        while idx < nch:
            c = chunks[idx]
            buf = self._data(c)
            r = buf.find(ch, c.off + pos - base, c.end)
            if r >= 0:
                return base + r - c.off, idx, base
            base += c.end - c.off
            pos = base
            idx += 1
        return -1, idx, base

    def _find_cr_or_lf(self, pos: int, idx: int, base: int) -> tuple[int, int, int]:
        chunks = self._chunks
        nch = len(chunks)
        while idx < nch:
            c = chunks[idx]
            buf = self._data(c)
            lo = c.off + pos - base
            lf = buf.find(b"\n", lo, c.end)
            cr = buf.find(b"\r", lo, lf if lf >= 0 else c.end)
            r = cr if cr >= 0 else lf
            if r >= 0:
                return base + r - c.off, idx, base
            base += c.end - c.off
            pos = base
            idx += 1
        return -1, idx, base

    def _byte_at(self, pos: int, idx: int, base: int) -> int:
        """The byte at pos, where pos is in chunk idx or earlier (used to look back one)."""
        chunks = self._chunks
        while pos < base:
            idx -= 1
            c = chunks[idx]
            base -= c.end - c.off
        c = chunks[idx]
        return self._data(c)[c.off + pos - base]

    def _span_crlf(self, pos: int, idx: int, base: int) -> int:
        """How many CR/LF bytes follow from pos on (libevent's strspn over chains)."""
        chunks = self._chunks
        nch = len(chunks)
        count = 0
        while idx < nch:
            c = chunks[idx]
            buf = self._data(c)
            i = c.off + pos - base
            while i < c.end:
                b = buf[i]
                if b != 13 and b != 10:
                    return count
                count += 1
                i += 1
            base += c.end - c.off
            pos = base
            idx += 1
        return count

    def _search_eol(
        self, pos: int, idx: int, base: int, style: int, origin: int
    ) -> tuple[int, int, int, int]:
        """(pos, eol_len, idx, base) of the first EOL at >= pos; pos -1 when none.

        origin is where the caller's search began (pos may be later: readln's
        cursor); EOL_CRLF never backs up over a CR before it.
        """
        if style == _EOL_ANY:
            p, idx, base = self._find_cr_or_lf(pos, idx, base)
            if p < 0:
                return -1, 0, idx, base
            return p, self._span_crlf(p, idx, base), idx, base
        if style == _EOL_CRLF:
            p, idx, base = self._find_char(b"\n", pos, idx, base)
            if p < 0:
                return -1, 0, idx, base
            # ... optionally preceded by a CR, but never back up before the start
            if p > origin and self._byte_at(p - 1, idx, base) == 13:
                if p - 1 < base:
                    prev = self._chunks[idx - 1]
                    return p - 1, 2, idx - 1, base - (prev.end - prev.off)
                return p - 1, 2, idx, base
            return p, 1, idx, base
        if style == _EOL_CRLF_STRICT:
            p, idx, base = self._find(b"\r\n", pos, idx, base, self._len)
            return p, (2 if p >= 0 else 0), idx, base
        if style == _EOL_LF:
            p, idx, base = self._find_char(b"\n", pos, idx, base)
        else:
            p, idx, base = self._find_char(b"\0", pos, idx, base)
        return p, (1 if p >= 0 else 0), idx, base

    def search(self, what: Buffer, start: EvbufferPtr | None = None) -> EvbufferPtr:
        """``evbuffer_search``: where what first occurs at or after start (pos -1 if nowhere)."""
        return self.search_range(what, start, None)

    def search_range(
        self, what: Buffer, start: EvbufferPtr | None, end: EvbufferPtr | None
    ) -> EvbufferPtr:
        """``evbuffer_search_range``: like ``search``, but the match must end <= end.pos."""
        pat = _as_view(what).tobytes()
        if end is not None and not isinstance(end, EvbufferPtr):
            raise TypeError("end must be an EvbufferPtr or None")
        if self._lock is not None:
            return self._locked(self._search_range, pat, start, end)
        return self._search_range(pat, start, end)

    def _search_range(
        self, pat: bytes, start: EvbufferPtr | None, end: EvbufferPtr | None
    ) -> EvbufferPtr:
        pos, idx, base = self._start(start)
        if pos < 0:
            return EvbufferPtr(-1)
        if not pat:
            return self._make_ptr(pos, idx, base)  # libevent: an empty pattern matches at start
        limit = self._len
        if end is not None and 0 <= end.pos < limit:
            limit = end.pos
        p, idx, base = self._find(pat, pos, idx, base, limit)
        return self._make_ptr(p, idx, base)

    def search_eol(
        self, start: EvbufferPtr | None = None, style: int = EVBUFFER_EOL.ANY
    ) -> tuple[EvbufferPtr, int]:
        """``evbuffer_search_eol``: (position, EOL length) of the next line end; (pos -1, 0)."""
        st = _check_style(style)
        if self._lock is not None:
            return self._locked(self._search_eol_pub, start, st)
        return self._search_eol_pub(start, st)

    def _search_eol_pub(self, start: EvbufferPtr | None, style: int) -> tuple[EvbufferPtr, int]:
        pos, idx, base = self._start(start)
        if pos < 0 or pos >= self._len:
            return EvbufferPtr(-1), 0
        p, eol, idx, base = self._search_eol(pos, idx, base, style, pos)
        return self._make_ptr(p, idx, base), eol

    def find(self, what: Buffer) -> memoryview | None:
        """Legacy ``evbuffer_find``: a contiguous view of the first match, or None."""
        pat = _as_view(what).tobytes()
        if self._lock is not None:
            return self._locked(self._find_legacy, pat)
        return self._find_legacy(pat)

    def _find_legacy(self, pat: bytes) -> memoryview | None:
        p = self._search_range(pat, None, None).pos
        if p < 0:
            return None
        view = self._pullup(p + len(pat))
        if view is None:
            return None
        return view[p : p + len(pat)]

    # -- lines ------------------------------------------------------------------

    def readln(self, style: int = EVBUFFER_EOL.ANY) -> bytes | None:
        """``evbuffer_readln``: remove and return one line without its EOL, or None.

        None (buffer untouched) when no complete line is there yet. With
        ``EVBUFFER_EOL_ANY`` any run of CR/LF bytes is one line end.
        """
        st = _check_style(style)
        if self._lock is not None:
            return self._locked(self._readln, st)
        return self._readln(st)

    def _readln(self, style: int) -> bytes | None:
        if self._freeze_front:
            self._check_front()
        total = self._len
        if total == 0:
            return None
        if self._scan_style != style and not self._watched:
            # Fast path: nobody watches the buffer and the line ends inside the
            # first chunk, the common case for a protocol parser.
            c = self._chunks[self._head]
            if not c.lazy and style != _EOL_ANY:
                line = self._readln_head(c, style)
                if line is not None:
                    return line
        if self._scan_style == style:
            pos = self._scan_pos
            idx = self._scan_idx
            base = self._scan_base
        else:
            pos = 0
            idx = self._head
            base = 0
        p, eol, idx, base = self._search_eol(pos, idx, base, style, 0)
        if p < 0:
            # remember how far we looked; a CR at the very end may start a CRLF
            last = self._chunks[len(self._chunks) - 1]
            self._scan_style = style
            if style == _EOL_CRLF_STRICT:
                self._scan_pos = total - 1
            else:
                self._scan_pos = total
            self._scan_idx = len(self._chunks) - 1
            self._scan_base = total - (last.end - last.off)
            return None
        line = self._copy(0, self._head, 0, p)
        if p:
            self._drain(p)
        self._drain(eol)
        return line

    def _readln_head(self, c: _Chunk, style: int) -> bytes | None:
        """readln when the line and its EOL lie in chunk ``c`` (the first); else None."""
        data = c.buf
        off = c.off
        end = c.end
        if style == _EOL_CRLF_STRICT:
            i = data.find(b"\r\n", off, end)
            eol = 2
        else:
            i = data.find(b"\0" if style == _EOL_NUL else b"\n", off, end)
            eol = 1
            if style == _EOL_CRLF and i > off and data[i - 1] == 13:
                i -= 1
                eol = 2
        if i < 0:
            return None
        line = bytes(data[off:i]) if type(data) is not bytes else data[off:i]
        n = i - off + eol
        if n < end - off and c.ref is None and c.seg is None:
            # Still inside the chunk: move the start, as _drain would, minus the loop.
            c.off = off + n
            self._len -= n
            self._front_changed()
            if c.off >= _COMPACT_MIN and c.off >= end - c.off:
                self._compact(c)
        else:
            self._drain(n)
        return line

    def readline(self) -> bytes | None:
        """Legacy ``evbuffer_readline``: ``readln(EVBUFFER_EOL_ANY)``."""
        return self.readln(EVBUFFER_EOL.ANY)

    # -- fd I/O -------------------------------------------------------------

    def set_max_read(self, n: int) -> None:
        """``evbuffer_set_max_read`` (2.2): the most one ``read`` takes."""
        n = _check_size(n, "n")
        if n < 1:
            raise ValueError("max_read must be >= 1")
        self._max_read = n

    def get_max_read(self) -> int:
        """``evbuffer_get_max_read`` (2.2); 4096 by default."""
        return self._max_read

    def read(self, fd: object, howmuch: int = -1) -> int:
        """``evbuffer_read``: read at most min(howmuch, max_read) bytes from fd.

        Returns the count, 0 at end of file. Would-block raises
        ``BlockingIOError``; other failures raise ``OSError``.
        """
        fdn = _fileno(fd)
        howmuch = _check_size(howmuch, "howmuch")
        if self._lock is not None:
            return self._locked(self._read, fdn, howmuch)
        return self._read(fdn, howmuch)

    def _read(self, fd: int, howmuch: int) -> int:
        self._check_back()
        max_read = self._max_read
        if howmuch < 0 or howmuch > max_read:
            howmuch = max_read
        if howmuch == 0:
            return 0
        t = self._tail()
        space = t.cap - t.end if t is not None else 0
        if t is not None and space >= howmuch:
            n = os.readv(fd, [memoryview(t.buf)[t.end : t.end + howmuch]])
            if n <= 0:
                return 0
            t.end += n
        else:
            need = howmuch - space
            spare = self._spare
            if spare is None or spare.cap - spare.end < need:
                spare = _new_tail(max(need, _MIN_CHUNK))
                self._spare = spare
            vecs: list[memoryview] = []
            if t is not None and space > 0:
                vecs.append(memoryview(t.buf)[t.end : t.cap])
            vecs.append(memoryview(spare.buf)[spare.end : spare.end + need])
            n = os.readv(fd, vecs)
            if n <= 0:
                return 0
            rest = n
            if t is not None and space > 0:
                took = space if rest > space else rest
                t.end += took
                rest -= took
            if rest > 0:
                spare.end += rest
                self._spare = None
                self._own_chunks().append(spare)
        self._len += n
        self._back_ver += 1
        if self._watched:
            self._n_add += n
            self._invoke()
        return n

    def write(self, fd: object) -> int:
        """``evbuffer_write``: write as much as the fd takes; drains and returns that count."""
        return self.write_atmost(fd, -1)

    def write_atmost(self, fd: object, n: int = -1) -> int:
        """``evbuffer_write_atmost``: write at most n bytes (all if -1), in one system call.

        Memory chunks go out together with ``os.writev`` (up to IOV_MAX of
        them); a file segment at the front goes out with ``os.sendfile``. An
        empty buffer writes nothing and returns 0. Would-block raises
        ``BlockingIOError``.
        """
        fdn = _fileno(fd)
        n = _check_size(n, "n")
        if self._lock is not None:
            return self._locked(self._write, fdn, n)
        return self._write(fdn, n)

    def _io_add(self, data: bytes) -> None:
        """Append what the owner's I/O path received (a BufferEvent's reads).

        Past a back freeze: the freeze stops *users* from appending to a
        bufferevent's input; the bufferevent itself appends here. The bytes
        object becomes a chunk as it is — a fresh ``recv`` result is nobody
        else's — unless the tail can take it by growing in place.
        """
        n = len(data)
        if not n:
            return
        t = self._tail()
        if t is None or n >= _ZERO_COPY_MIN or not self._grow_tail(t, data, n):
            self._append_chunk(_Chunk(data, 0, n))
            self._back_ver += 1
        if self._watched:
            self._n_add += n
            self._invoke()

    def _io_write(self, fd: int, n: int, send: Callable[[Any], int] | None = None) -> int:
        """``write_atmost`` for the owner's own I/O path: past a front freeze.

        ``send`` (a socket's pre-bound ``send``) takes a single chunk; several
        go out together with ``writev`` as usual.
        """
        frozen = self._freeze_front
        self._freeze_front = False
        try:
            if send is not None and self._len:
                first = self._chunks[self._head]
                size = first.end - first.off
                if not first.lazy and (n < 0 or n >= size) and size == self._len:
                    buf = first.buf
                    if first.off == 0 and size == len(buf):
                        written = send(buf)
                    else:
                        written = send(memoryview(buf)[first.off : first.end])
                    if written > 0:
                        self._drain(written)
                    return written
            return self._write(fd, n)
        finally:
            self._freeze_front = frozen

    def _write(self, fd: int, n: int) -> int:
        self._check_front()
        total = self._len
        if n < 0 or n > total:
            n = total
        if n == 0:
            return 0
        chunks = self._chunks
        idx = self._head
        first = chunks[idx]
        if first.lazy:
            seg = first.seg
            assert seg is not None
            if not seg.flags & _FS_DISABLE_SENDFILE:
                count = first.end - first.off
                if count > n:
                    count = n
                sent = _sendfile(fd, seg.fd, first.off, count)
                if sent >= 0:
                    if sent > 0:
                        self._drain(sent)
                    return sent
        if not first.lazy and first.end - first.off >= n:
            # One chunk covers it: a plain write, no iovec list.
            buf = first.buf
            off = first.off
            if off == 0 and n == len(buf):
                written = os.write(fd, buf)
            else:
                written = os.write(fd, memoryview(buf)[off : off + n])
            if written > 0:
                self._drain(written)
            return written
        vecs: list[memoryview] = []
        left = n
        nch = len(chunks)
        while idx < nch and left > 0 and len(vecs) < _IOV_MAX:
            c = chunks[idx]
            if c.lazy and vecs:
                break  # a file segment goes out by itself next time
            buf = self._data(c)
            clen = c.end - c.off
            if clen > left:
                clen = left
            vecs.append(memoryview(buf)[c.off : c.off + clen])
            left -= clen
            idx += 1
        written = os.writev(fd, vecs)
        if written > 0:
            self._drain(written)
        return written

    # -- callbacks ------------------------------------------------------------

    def add_cb(self, cb: EvbufferCallback, arg: Any = None) -> EvbufferCbEntry:
        """``evbuffer_add_cb``: ``cb(buf, info, arg)`` after every change (newest first)."""
        if not callable(cb):
            raise TypeError("cb must be callable")
        entry = EvbufferCbEntry(cb, arg, False)
        if self._cbs is _NO_CBS:
            self._cbs = []
        self._cbs.insert(0, entry)
        self._watched = True
        return entry

    def remove_cb_entry(self, entry: EvbufferCbEntry) -> None:
        """``evbuffer_remove_cb_entry``."""
        try:
            self._cbs.remove(entry)
        except ValueError:
            raise ValueError("that callback entry is not registered on this buffer") from None
        entry.removed = True
        self._watched = bool(self._cbs) or self._hook is not None

    def remove_cb(self, cb: EvbufferCallback, arg: Any = None) -> None:
        """``evbuffer_remove_cb``: remove the first entry with this cb and arg (``ValueError``)."""
        for entry in self._cbs:
            if entry.obsolete or entry.cb != cb:
                continue
            if entry.arg is arg or entry.arg == arg:
                self.remove_cb_entry(entry)
                return
        raise ValueError("no such callback/arg pair on this buffer")

    def cb_set_flags(self, entry: EvbufferCbEntry, flags: int) -> None:
        """``evbuffer_cb_set_flags`` (``EVBUFFER_CB_ENABLED``)."""
        entry.flags |= int(flags) & _CB_USER_FLAGS

    def cb_clear_flags(self, entry: EvbufferCbEntry, flags: int) -> None:
        """``evbuffer_cb_clear_flags``."""
        entry.flags &= ~(int(flags) & _CB_USER_FLAGS)

    def setcb(self, cb: _ObsoleteCallback | None, arg: Any = None) -> None:
        """Legacy ``evbuffer_setcb``: all callbacks become ``cb(buf, old_len, new_len, arg)``."""
        for entry in self._cbs:
            entry.removed = True
        self._cbs = _NO_CBS
        if cb is not None:
            self._cbs = [EvbufferCbEntry(cb, arg, True)]
        self._watched = bool(self._cbs) or self._hook is not None

    def set_change_hook(self, hook: ChangeHook | None) -> None:
        """Tell ``hook._buffer_changed(buf, n_added, n_deleted)`` of every change (levent only).

        The cheap, single-owner form of ``add_cb`` that a BufferEvent uses on
        its own buffers: no entry, no info object; it runs before the callbacks.
        """
        self._hook = hook
        self._watched = bool(self._cbs) or hook is not None

    def defer_callbacks(self, base: EventBase) -> None:
        """``evbuffer_defer_callbacks``: run callbacks from base's loop, changes accumulated."""
        from .event import Deferred

        old = self._deferred
        if old is not None:
            old.cancel()
        self._deferred = Deferred(base, self._run_deferred)

    # -- freezing, locking, flags --------------------------------------------

    def freeze(self, at_front: bool) -> None:
        """``evbuffer_freeze``: forbid changes at the front (True) or back (False)."""
        if at_front:
            self._freeze_front = True
        else:
            self._freeze_back = True

    def unfreeze(self, at_front: bool) -> None:
        """``evbuffer_unfreeze``."""
        if at_front:
            self._freeze_front = False
        else:
            self._freeze_back = False

    def enable_locking(self, lock: _LockLike | None = None) -> None:
        """``evbuffer_enable_locking``: guard every call with lock (a new RLock by default)."""
        if self._lock is not None:
            raise EvbufferError("locking is already enabled on this buffer")
        self._lock = lock if lock is not None else threading.RLock()

    def lock(self) -> None:
        """``evbuffer_lock`` (a no-op without ``enable_locking``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()

    def unlock(self) -> None:
        """``evbuffer_unlock``."""
        lk = self._lock
        if lk is not None:
            lk.release()

    def set_flags(self, flags: int) -> None:
        """``evbuffer_set_flags`` (``EVBUFFER_FLAG_DRAINS_TO_FD``)."""
        self._flags |= int(flags)

    def clear_flags(self, flags: int) -> None:
        """``evbuffer_clear_flags``."""
        self._flags &= ~int(flags)

    @property
    def flags(self) -> EVBUFFER_FLAG:
        """The flags set with ``set_flags``."""
        return EVBUFFER_FLAG(self._flags)

    # -- freeing ------------------------------------------------------------------

    def free(self) -> None:
        """``evbuffer_free``: drop all content (running reference cleanups, closing owned fds).

        The buffer stays usable afterwards, empty and without callbacks.
        """
        if self._lock is not None:
            self._locked(self._free)
        else:
            self._free()

    def _free(self) -> None:
        deferred = self._deferred
        self._deferred = None
        if deferred is not None:
            deferred.cancel()
        for entry in self._cbs:
            entry.removed = True
        self._cbs = _NO_CBS
        self._hook = None
        self._watched = False
        chunks = self._chunks
        dropped = [
            chunks[k]
            for k in range(self._head, len(chunks))
            if chunks[k].ref is not None or chunks[k].seg is not None
        ]
        self._chunks = _NO_CHUNKS
        self._head = 0
        self._len = 0
        self._n_add = 0
        self._n_del = 0
        self._spare = None
        self._resv = _NO_RESV
        self._front_changed()
        self._back_ver += 1
        if dropped:
            self._release(dropped)

    def _get_waste(self) -> tuple[int, int, int]:
        """(allocated, wasted, used) bytes, as libevent's test helper evbuffer_get_waste."""
        allocated = wasted = used = 0
        chunks = self._chunks
        for k in range(self._head, len(chunks)):
            c = chunks[k]
            size = c.cap if c.writable else (c.end - c.off if c.lazy else len(c.buf))
            allocated += size
            used += c.end - c.off
            wasted += size - (c.end - c.off)
        return allocated, wasted, used


def _sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
    """os.sendfile, or -1 when this fd pair cannot use it (then the caller copies)."""
    try:
        return os.sendfile(out_fd, in_fd, offset, count)
    except BlockingIOError:
        raise
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK):
            return -1
        raise
