"""Filtering bufferevents (libevent's ``bufferevent_filter.c``): a BufferEvent over another one.

A filter bufferevent owns the callbacks of the bufferevent it wraps (the
*underlying* one) and moves data between the two through two functions::

    filter(src: Evbuffer, dst: Evbuffer, dst_limit: int, mode: int, context) -> int

returning ``BEV_OK`` (made progress), ``BEV_NEED_MORE`` or ``BEV_ERROR``.
``dst_limit`` is the room left under the destination's high watermark (-1:
unlimited); a filter may ignore it, and then overruns the watermark. ``mode`` is
``BEV_NORMAL`` for ordinary traffic and ``BEV_FLUSH`` / ``BEV_FINISHED`` from
``flush()``. ``None`` instead of a function passes bytes through unchanged.

How data moves (the rules of ``bufferevent_filter.c``):

* Input: when the underlying input grows, the input filter runs from it into
  this bufferevent's input — only while EV_READ is enabled and the input is
  below its high watermark — again and again while it returns ``BEV_OK`` and
  the underlying input is not empty. The read callback then runs as usual.
* Backpressure: while EV_READ is disabled or the input sits at its high
  watermark, the underlying bufferevent's reading is suspended
  (``SUSPEND_FILT_READ``); when the user drains below the watermark it resumes,
  and whatever waited in the underlying input is filtered from the loop, so
  nothing gets stuck below the watermark (behaviour 89).
* Output: data written to this bufferevent runs through the output filter
  into the underlying output at once, while EV_WRITE is enabled and the
  underlying output is below *its* high watermark; the rest follows when the
  underlying write callback reports room. A write to this bufferevent from
  inside the output filter does not re-enter it: the loop that called the
  filter picks the new bytes up (behaviour 88).
* Events of the underlying bufferevent reach this one's event callback
  unchanged (EOF, errors, its own timeouts, CONNECTED).

Where levent differs from libevent 2.1, on purpose (docs/libevent-mapping.md):

* ``BEV_ERROR`` is not ignored: the direction is disabled and the event
  callback gets ``READING|ERROR`` or ``WRITING|ERROR``; ``flush`` returns -1.
* A filter that returns ``BEV_OK`` without touching either buffer is not
  called again in that pass (libevent would spin forever).
* Callbacks never run inside the user's own call: the write callback that a
  ``write()`` earns, and the callbacks a ``flush()`` earns, are deferred to the
  loop; re-enabling a direction filters what waited from the loop too.
* A filter that returns something other than ``BEV_OK`` / ``BEV_NEED_MORE`` /
  ``BEV_ERROR`` raises ``TypeError`` (a bug in the filter, never silent).

Timeouts are libevent's *generic* ones (``GenericTimeoutBufferEvent``), plain
timers on this bufferevent: the read timeout runs while EV_READ is enabled and
not suspended and restarts each time the input filter produces data; the write
timeout (re)starts when EV_WRITE is enabled and whenever the output filter
makes progress — like libevent it is not stopped when everything has been
written, so an idle writable filter with a write timeout reports
``WRITING|TIMEOUT``.

With ``BEV_OPT_THREADSAFE`` the filter uses its underlying bufferevent's lock
when that one has a lock, and otherwise makes one and gives it to the
underlying bufferevent too (libevent's ``bufferevent_enable_locking_``): the
filters move data between the two, so one lock guards both. The callbacks the
underlying bufferevent runs for the filter, and the filter's own loop
callbacks, take it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeAlias

from ..buffer import Evbuffer
from ..constants import EV
from ..event import Deferred
from .constants import BEV_EVENT, BEV_OPT, BEV_TRIG
from .core import SUSPEND_FILT_READ, BufferEvent, GenericTimeoutBufferEvent

__all__ = ["FilterBufferEvent", "FilterCallback", "FreeContextCallback"]

#: ``filter(src, dst, dst_limit, mode, context) -> BEV_OK | BEV_NEED_MORE | BEV_ERROR``.
FilterCallback: TypeAlias = Callable[[Evbuffer, Evbuffer, int, int, Any], object]
#: ``free_context(context)``, called once when the filter bufferevent is destroyed.
FreeContextCallback: TypeAlias = Callable[[Any], object]

_READ: Final = int(EV.READ)
_WRITE: Final = int(EV.WRITE)
_OK: Final = 0
_NEED_MORE: Final = 1
_ERROR: Final = 2
_NORMAL: Final = 0
_DEFER: Final = int(BEV_TRIG.DEFER_CALLBACKS)
_CLOSE_ON_FREE: Final = int(BEV_OPT.CLOSE_ON_FREE)
_READING_ERROR: Final = int(BEV_EVENT.READING | BEV_EVENT.ERROR)
_WRITING_ERROR: Final = int(BEV_EVENT.WRITING | BEV_EVENT.ERROR)


def pass_through(src: Evbuffer, dst: Evbuffer, dst_limit: int, mode: int, context: Any) -> int:
    """The filter used for ``None`` (libevent's ``be_null_filter``): move up to dst_limit bytes."""
    n = len(src)
    if 0 <= dst_limit < n:
        n = dst_limit
    if n:
        src.remove_buffer(dst, n)
    return _OK


def _check_result(res: object, which: str) -> int:
    if isinstance(res, int) and 0 <= res <= 2:
        return int(res)
    raise TypeError(
        f"the {which} filter returned {res!r}; it must return BEV_OK, BEV_NEED_MORE or BEV_ERROR"
    )


class FilterBufferEvent(GenericTimeoutBufferEvent):
    """A BufferEvent that filters another one (``bufferevent_filter_new``).

    ``FilterBufferEvent(underlying, input_filter, output_filter, options=0,
    free_context=None, context=None)`` takes over ``underlying``'s callbacks,
    enables its reading and writing, and holds a reference to it until this
    bufferevent is destroyed. ``context`` is passed to both filters and, at
    destruction, to ``free_context``.

    ``BEV_OPT_CLOSE_ON_FREE`` frees the underlying bufferevent with this one.
    As in libevent, freeing does **not** wait for the underlying output to
    reach the peer (libevent issues #616, #126): what the filters already
    produced but the underlying bufferevent has not sent is dropped. To end a
    stream cleanly, call ``flush(EV_WRITE, BEV_FINISHED)`` (the output filter
    writes its trailer, e.g. a zlib ``Z_FINISH``; a pair underneath also tells
    its partner EOF), then free once ``get_underlying().output`` is empty — for
    instance from a timer or after the peer acknowledges.
    """

    __slots__ = (
        "_context",
        "_free_context",
        "_in_busy",
        "_in_stalled",
        "_input_filter",
        "_kick",
        "_linked",
        "_out_busy",
        "_output_filter",
        "_u_eventcb_bound",
        "_underlying",
    )

    def __init__(
        self,
        underlying: BufferEvent,
        input_filter: FilterCallback | None,
        output_filter: FilterCallback | None,
        options: int = 0,
        free_context: FreeContextCallback | None = None,
        context: Any = None,
    ) -> None:
        if not isinstance(underlying, BufferEvent):
            raise TypeError(f"underlying must be a BufferEvent, not {type(underlying).__name__}")
        for name, fn in (
            ("input_filter", input_filter),
            ("output_filter", output_filter),
            ("free_context", free_context),
        ):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable or None, not {type(fn).__name__}")
        underlying._check_usable()
        # THREADSAFE: share the underlying bufferevent's lock (or make one for both).
        super().__init__(underlying.base, options, underlying._lock)
        lock = self._lock
        if lock is not None:
            underlying._enable_locking(lock)
        base = self._base
        self._underlying = underlying
        self._input_filter: FilterCallback = (
            input_filter if input_filter is not None else pass_through
        )
        self._output_filter: FilterCallback = (
            output_filter if output_filter is not None else pass_through
        )
        self._free_context = free_context
        self._context: Any = context
        self._in_busy = False
        self._out_busy = False
        #: The input filter last stopped on our high watermark, not for want of data.
        self._in_stalled = False
        self._linked = True
        self._kick = Deferred(base, self._on_kick)
        # One bound method, kept, so that _unlink can tell whether it is still installed.
        self._u_eventcb_bound: Callable[[BufferEvent, int, Any], object] = self._u_eventcb
        if lock is not None:
            lock.acquire()  # the underlying bufferevent's callbacks may run from now on
        try:
            underlying.incref()
            underlying.setcb(self._u_readcb, self._u_writecb, self._u_eventcb_bound, None)
            # Suspend first, then enable: the underlying bufferevent must not start
            # reading for a filter whose EV_READ is still off (new ones have EV_WRITE only).
            underlying.suspend_read(SUSPEND_FILT_READ)
            underlying.enable(_READ | _WRITE)
        finally:
            if lock is not None:
                lock.release()

    # -- accessors -----------------------------------------------------------------

    def get_underlying(self) -> BufferEvent:
        """The wrapped bufferevent (``bufferevent_get_underlying``)."""
        return self._underlying

    def getfd(self) -> int:
        """The underlying bufferevent's fd, or -1 (``bufferevent_getfd``)."""
        return self._underlying.getfd()

    def setfd(self, fd: object) -> None:
        """Change the underlying bufferevent's fd (libevent forwards ``BEV_CTRL_SET_FD``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._check_usable()
            self._underlying.setfd(fd)
        finally:
            if lk is not None:
                lk.release()

    @property
    def context(self) -> Any:
        """The ``context`` handed to the filters."""
        return self._context

    # -- the I/O hooks -------------------------------------------------------------

    def _start_reading(self) -> None:
        # be_filter_enable(EV_READ) / unsuspend: restart the read timer, let the
        # underlying bufferevent read again, and filter what already waits there.
        if not self._linked:
            return
        self._reset_read_timeout()
        u = self._underlying
        if not u._freed:
            u.unsuspend_read(SUSPEND_FILT_READ)
        if len(u._input) or self._in_stalled:
            self._kick.schedule()

    def _stop_reading(self) -> None:
        # be_filter_disable(EV_READ) / suspend (also our own high watermark):
        # backpressure on the underlying bufferevent.
        self._del_read_timeout()
        u = self._underlying
        if self._linked and not u._freed:
            u.suspend_read(SUSPEND_FILT_READ)

    def _start_writing(self) -> None:
        # libevent's BEV_RESET_GENERIC_WRITE_TIMEOUT: enabling arms the write timer
        # even with nothing queued.
        self._reset_write_timeout()
        if len(self._output) and self._linked:
            self._kick.schedule()

    def _stop_writing(self) -> None:
        self._del_write_timeout()

    def _output_added(self) -> None:
        # bufferevent_filtered_outbuf_cb. While the output filter runs, writes to
        # this bufferevent land here and are left to that running loop.
        if not self._out_busy and self._linked:
            self._process_output(_NORMAL, _DEFER)

    def _flush(self, iotype: int, mode: int) -> int:
        """be_filter_flush: run the filters in ``mode``, then flush the underlying one."""
        if not self._linked:
            return 0
        self.incref()
        try:
            result = 0
            failed = False
            if iotype & _READ:
                r = self._process_input(mode, _DEFER)
                failed = r < 0
                if r > 0:
                    result = 1
            if iotype & _WRITE and not self._freed:
                r = self._process_output(mode, _DEFER)
                failed = failed or r < 0
                if r > 0:
                    result = 1
            u = self._underlying
            if not u._freed and u.flush(iotype, mode) < 0:
                failed = True
        finally:
            self.decref()
        return -1 if failed else result

    # -- moving data ---------------------------------------------------------------

    def _readbuf_full(self, mode: int) -> bool:
        high = self._wm_read_high
        return mode == _NORMAL and high != 0 and len(self._input) >= high

    def _u_writebuf_full(self, mode: int) -> bool:
        u = self._underlying
        high = u._wm_write_high
        return mode == _NORMAL and high != 0 and len(u._output) >= high

    def _process_input(self, mode: int, cb_options: int) -> int:
        """be_filter_process_input + the read callback: -1 error, 0 nothing, 1 produced."""
        if mode == _NORMAL and (not self._enabled & _READ or self._readbuf_full(mode)):
            return 0
        if self._in_busy:
            return 0  # the input filter triggered more input: its own loop takes it
        src = self._underlying._input
        dst = self._input
        fn = self._input_filter
        context = self._context
        produced = False
        res = _OK
        self._in_stalled = False
        self._in_busy = True
        try:
            while True:
                limit = -1
                high = self._wm_read_high
                if mode == _NORMAL and high:
                    limit = high - len(dst)
                n_src = len(src)
                n_dst = len(dst)
                res = _check_result(fn(src, dst, limit, mode, context), "input")
                if len(dst) != n_dst:
                    produced = True
                if res != _OK:
                    break
                if len(src) == n_src and len(dst) == n_dst:
                    break  # BEV_OK without progress: do not spin
                if not (self._enabled & _READ and len(src)):
                    break
                if self._readbuf_full(mode):
                    self._in_stalled = True
                    break
        finally:
            self._in_busy = False
        if produced:
            if self._enabled & _READ and not self._read_suspended:
                self._reset_read_timeout()
            self._run_readcb(cb_options)
        if res == _ERROR and not self._freed:
            self.disable(_READ)
            self._run_eventcb(_READING_ERROR, cb_options)
            return -1
        return 1 if produced else 0

    def _process_output(self, mode: int, cb_options: int) -> int:
        """be_filter_process_output + the write callback: -1 error, 0 nothing, 1 progress."""
        src = self._output
        if mode == _NORMAL and (
            not self._enabled & _WRITE or self._u_writebuf_full(mode) or not len(src)
        ):
            return 0
        if self._out_busy:
            return 0
        dst = self._underlying._output
        fn = self._output_filter
        context = self._context
        progress = False
        res = _OK
        self._out_busy = True
        try:
            again = True
            while again:
                again = False
                moved = False
                while True:
                    limit = -1
                    high = self._underlying._wm_write_high
                    if mode == _NORMAL and high:
                        limit = high - len(dst)
                    n_src = len(src)
                    n_dst = len(dst)
                    res = _check_result(fn(src, dst, limit, mode, context), "output")
                    if len(src) != n_src or len(dst) != n_dst:
                        moved = True
                    elif res == _OK:
                        break  # BEV_OK without progress: do not spin
                    if res != _OK or not self._keep_writing(mode):
                        break
                if moved:
                    progress = True
                    # bufferevent_trigger_nolock_(EV_WRITE): honours the low watermark.
                    self._run_writecb(cb_options)
                    again = res == _OK and not self._freed and self._keep_writing(mode)
        finally:
            self._out_busy = False
        if progress and self._enabled & _WRITE and not self._write_suspended:
            self._reset_write_timeout()
        if res == _ERROR and not self._freed:
            self.disable(_WRITE)
            self._run_eventcb(_WRITING_ERROR, cb_options)
            return -1
        return 1 if progress else 0

    def _keep_writing(self, mode: int) -> bool:
        return (
            self._enabled & _WRITE != 0
            and len(self._output) != 0
            and not self._u_writebuf_full(mode)
        )

    # -- the underlying bufferevent's callbacks --------------------------------------

    def _u_readcb(self, bev: BufferEvent, arg: Any) -> None:
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            if self._freed or not self._linked:
                return
            self.incref()
            try:
                self._process_input(_NORMAL, 0)
            finally:
                self.decref()
        finally:
            if lk is not None:
                lk.release()

    def _u_writecb(self, bev: BufferEvent, arg: Any) -> None:
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            if self._freed or not self._linked:
                return
            self.incref()
            try:
                self._process_output(_NORMAL, 0)
            finally:
                self.decref()
        finally:
            if lk is not None:
                lk.release()

    def _u_eventcb(self, bev: BufferEvent, what: int, arg: Any) -> None:
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            if self._freed or not self._linked:
                return
            self._run_eventcb(what, 0)
        finally:
            if lk is not None:
                lk.release()

    def _on_kick(self) -> None:
        """From the loop: filter what waited while a direction was off or full."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            if self._freed or not self._linked:
                return
            self.incref()
            try:
                if (
                    self._enabled & _READ
                    and not self._read_suspended
                    and (len(self._underlying._input) or self._in_stalled)
                ):
                    self._process_input(_NORMAL, 0)
                if self._enabled & _WRITE and not self._write_suspended and not self._freed:
                    self._process_output(_NORMAL, 0)
            finally:
                self.decref()
        finally:
            if lk is not None:
                lk.release()

    # -- lifetime ------------------------------------------------------------------

    def free(self) -> None:
        """Release the filter (``bufferevent_free``); see the class doc about unsent data.

        With ``BEV_OPT_CLOSE_ON_FREE`` the underlying bufferevent is freed too;
        otherwise it gets its callbacks cleared and its reading unsuspended,
        and stays the caller's.
        """
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            if not self._freed:
                self._unlink()
            super().free()
        finally:
            if lk is not None:
                lk.release()

    def _unlink(self) -> None:
        """be_filter_unlink: let go of the underlying bufferevent."""
        self._linked = False
        self._kick.cancel()
        u = self._underlying
        if u._freed:
            return
        if self._options & _CLOSE_ON_FREE:
            u.free()
            return
        if u._eventcb is self._u_eventcb_bound:
            u.setcb(None, None, None, None)
        u.unsuspend_read(SUSPEND_FILT_READ)

    def _destruct(self) -> None:
        self._kick.cancel()
        super()._destruct()
        free_context = self._free_context
        self._free_context = None
        try:
            if free_context is not None:
                free_context(self._context)
        finally:
            self._underlying.decref()
