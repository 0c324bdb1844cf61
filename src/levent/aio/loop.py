"""``EventLoop``: an asyncio event loop whose every wait, timer and callback is levent's.

The loop is an ``asyncio.BaseEventLoop`` (so futures, tasks, ``create_connection``'s
happy eyeballs, ``create_server``, executors, exception handlers and async
generator hooks behave exactly as asyncio's) whose scheduling is an
``EventBase``:

* ``run_forever`` runs ``base.loop()``; while it runs, the base holds a virtual
  reference, so an idle asyncio program blocks in the backend instead of exiting.
* ``call_soon`` appends a ``Handle`` to the ready queue and schedules one
  ``Deferred`` (the *runner*) that runs the queue. Callbacks scheduled while the
  runner works wait for the next iteration, after the backend has been polled
  again, so a coroutine that never blocks cannot starve I/O (asyncio's rule).
* ``call_at`` / ``call_later`` arm one levent timer ``Event`` per handle, at an
  absolute deadline on ``time.monotonic()`` (asyncio's clock, and levent's).
* ``add_reader`` / ``add_writer`` are persistent levent I/O Events; signal
  handlers are levent signal Events.
* ``call_soon_threadsafe`` appends to the ready queue and writes a byte to the
  loop's self-pipe (an internal read event), never taking the base lock, so a
  thread never waits for the loop's current callback to finish.
* TCP and Unix transports are ``levent.aio.transports.StreamTransport``: a
  ``SocketBufferEvent`` underneath, with asyncio's flow control on its watermarks.
  TLS is asyncio's ``SSLProtocol`` over that transport, as in every stdlib loop.

Several methods keep asyncio's private hook names (``_make_socket_transport``,
``_start_serving``, …): ``BaseEventLoop`` calls them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import functools
import io
import os
import signal
import socket
import stat
import sys
import threading
import weakref
from asyncio import (
    base_events,
    constants,
    coroutines,
    events,
    format_helpers,
    futures,
    sslproto,
    trsock,
)
from collections.abc import Callable
from contextvars import Context, copy_context
from typing import TYPE_CHECKING, Any, Final

from levent.base import EventBase
from levent.constants import EV
from levent.dns.getaddrinfo import AddrInfoHints
from levent.errors import EventError
from levent.event import Deferred, Event

from .transports import StreamTransport

if TYPE_CHECKING:
    from levent.dns.resolver import DnsBase

__all__ = ["EventLoop"]

_READ_PERSIST: Final = int(EV.READ | EV.PERSIST)
_WRITE_PERSIST: Final = int(EV.WRITE | EV.PERSIST)
_SIGNAL_PERSIST: Final = int(EV.SIGNAL | EV.PERSIST)
# asyncio's private helpers, which typeshed does not describe.
_base_events: Any = base_events
_futures: Any = futures
_logger = _base_events.logger
_SENDFILE_CHUNK: Final = 0x7FFF_F000  # os.sendfile's largest count on Linux

# call_soon fills a Handle's slots itself outside debug mode, which is all that
# Handle.__init__ does there, without its Python call and its get_debug() call.
# Only where Handle has exactly these slots; any other Python keeps the constructor.
_Handle: Any = events.Handle
_new_handle: Final = object.__new__
_FAST_HANDLE: Final = set(getattr(_Handle, "__slots__", ())) == {
    "_callback",
    "_args",
    "_cancelled",
    "_loop",
    "_source_traceback",
    "_repr",
    "__weakref__",
    "_context",
}
# call_at does the same for TimerHandle, whose own slots are these two.
_FAST_TIMER_HANDLE: Final = _FAST_HANDLE and set(events.TimerHandle.__slots__) == {
    "_scheduled",
    "_when",
}
_format_helpers: Any = format_helpers


def _report_callback_error(loop: EventLoop, handle: Any, exc: BaseException) -> None:
    """What ``Handle._run`` reports when its callback raises."""
    source = _format_helpers._format_callback_source(handle._callback, handle._args)
    context: dict[str, Any] = {
        "message": f"Exception in callback {source}",
        "exception": exc,
        "handle": handle,
    }
    if handle._source_traceback:
        context["source_traceback"] = handle._source_traceback
    loop.call_exception_handler(context)


def _gai_strerror(err: int) -> str:
    from levent.dns.constants import EVUTIL_EAI_CANCEL

    if err == EVUTIL_EAI_CANCEL:
        return "request canceled"
    for name in dir(socket):
        if name.startswith("EAI_") and getattr(socket, name) == err:
            return name
    return f"getaddrinfo error {err}"


def _fileobj_to_fd(fileobj: Any) -> int:
    """An fd from an int or an object with ``fileno()`` (asyncio's selector rule)."""
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


class _TimerHandle(events.TimerHandle):
    """asyncio's TimerHandle plus the levent timer Event that fires it."""

    __slots__ = ("_event",)

    if TYPE_CHECKING:
        _event: Event | None
        _scheduled: bool
        _loop: EventLoop
        _source_traceback: Any
        _cancelled: bool
        _callback: Any
        _args: Any
        _repr: str | None

    def cancel(self) -> None:
        """TimerHandle.cancel, with what a loop's _timer_handle_cancelled would do (the
        only caller of that hook, so the loop has none): the timer Event leaves the
        base at once, where asyncio leaves a cancelled handle in its heap."""
        if self._cancelled:
            return
        ev = self._event
        if ev is not None:
            self._event = None
            self._scheduled = False
            ev.delete()
        self._cancelled = True
        if self._loop._debug:
            self._repr = repr(self)
        self._callback = None
        self._args = None


class _FdWatch:
    """One direction (read or write) of one fd: its persistent Event and current Handle."""

    __slots__ = ("event", "handle")

    def __init__(self, event: Event, handle: events.Handle) -> None:
        self.event = event
        self.handle = handle


def _timer_fired(_fd: int, _what: int, timer: _TimerHandle) -> None:
    timer._event = None
    timer._scheduled = False
    if not timer._cancelled:
        loop: EventLoop = timer._loop
        if loop._debug:
            loop._run_handle_timed(timer)
        else:
            timer._run()


def _fd_ready(_fd: int, _what: int, watch: _FdWatch) -> None:
    handle: Any = watch.handle
    if handle._cancelled:
        return
    loop: EventLoop = handle._loop
    if loop._debug:
        loop._run_handle_timed(handle)
    else:
        handle._run()


def _signal_fired(_signum: int, _what: int, handle: events.Handle) -> None:
    if not handle._cancelled:
        handle._run()


class EventLoop(base_events.BaseEventLoop):
    """An asyncio event loop on a levent ``EventBase`` (its own, or ``base``).

    A base passed in is shared: bufferevents, evhttp servers and plain Events on
    it run inside ``run_forever`` alongside the loop's callbacks, and ``close()``
    leaves the base to its owner. A base the loop made is freed by ``close()``.
    """

    if TYPE_CHECKING:
        # BaseEventLoop's private state and helpers, which typeshed leaves out.
        _debug: bool
        _ready: collections.deque[events.Handle]
        _stopping: bool
        _closed: bool
        _thread_id: int | None
        _current_handle: events.Handle | None

        def _check_closed(self) -> None: ...
        def _check_running(self) -> None: ...
        def _check_thread(self) -> None: ...
        def _check_callback(self, callback: object, method: str) -> None: ...
        def _set_coroutine_origin_tracking(self, enabled: bool) -> None: ...
        def _asyncgen_firstiter_hook(self, agen: Any) -> None: ...
        def _asyncgen_finalizer_hook(self, agen: Any) -> None: ...
        async def _ensure_resolved(
            self,
            address: Any,
            *,
            family: int = 0,
            type: int = socket.SOCK_STREAM,
            proto: int = 0,
            flags: int = 0,
            loop: asyncio.AbstractEventLoop,
        ) -> list[Any]: ...
        async def _create_connection_transport(
            self,
            sock: socket.socket,
            protocol_factory: Callable[[], asyncio.BaseProtocol],
            ssl: Any,
            server_hostname: str | None,
            server_side: bool = False,
            ssl_handshake_timeout: float | None = None,
            ssl_shutdown_timeout: float | None = None,
        ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]: ...

    def __init__(self, base: EventBase | None = None, dns_base: DnsBase | None = None) -> None:
        super().__init__()
        #: When given, ``getaddrinfo`` resolves with levent's evdns on this loop
        #: instead of the default executor.
        self.dns_base = dns_base
        self._owns_base = base is None
        self._base: EventBase = EventBase() if base is None else base
        self._runner = Deferred(self._base, self._run_ready)
        self._runner_pending = False
        self._readers: dict[int, _FdWatch] = {}
        self._writers: dict[int, _FdWatch] = {}
        self._signal_events: dict[int, Event] = {}
        self._transports: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        self._ssock, self._csock = socket.socketpair()
        self._ssock.setblocking(False)
        self._csock.setblocking(False)
        self._self_reading = self._base._internal_event(self._ssock.fileno(), self._read_from_self)
        self._self_reading.add()
        if self._owns_base:
            # An exception escaping a levent callback on the loop's own base goes
            # where asyncio users look for it: the loop's exception handler.
            self._base.set_error_handler(self._levent_callback_failed)

    def _levent_callback_failed(self, _base: EventBase, source: object, exc: BaseException) -> None:
        self.call_exception_handler(
            {"message": f"Exception in levent callback {source!r}", "exception": exc}
        )

    # -- what is underneath -----------------------------------------------------------

    @property
    def base(self) -> EventBase:
        """The ``EventBase`` this loop runs."""
        return self._base

    # -- running and stopping -----------------------------------------------------------

    def run_forever(self) -> None:
        """Run until ``stop()`` (``asyncio.AbstractEventLoop.run_forever``)."""
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self._debug)
        old_agen_hooks = sys.get_asyncgen_hooks()
        base = self._base
        try:
            self._thread_id = threading.get_ident()
            sys.set_asyncgen_hooks(
                firstiter=self._asyncgen_firstiter_hook,
                finalizer=self._asyncgen_finalizer_hook,
            )
            events._set_running_loop(self)
            if self._stopping or self._ready:
                self._kick()
            base.add_virtual()
            try:
                base.loop()
            finally:
                base.del_virtual()
        finally:
            self._stopping = False
            self._thread_id = None
            events._set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*old_agen_hooks)

    def stop(self) -> None:
        """Stop after the callbacks of the current iteration have run."""
        self._stopping = True
        if self._thread_id is not None:
            self._kick()

    def close(self) -> None:
        """Close the loop: no callback runs afterwards; a base the loop made is freed."""
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        for sig in list(self._signal_events):
            self.remove_signal_handler(sig)
        super().close()
        for watches in (self._readers, self._writers):
            for watch in watches.values():
                watch.event.free()
                watch.handle.cancel()
            watches.clear()
        if self._runner_pending:
            self._runner.cancel()
            self._runner_pending = False
        self._self_reading.free()
        self._ssock.close()
        self._csock.close()
        if self._owns_base:
            self._base.free()

    # -- the ready queue -----------------------------------------------------------------

    def _kick(self) -> None:
        """Make sure the runner runs in this (or, while it runs, the next) iteration."""
        if not self._runner_pending:
            self._runner_pending = True
            self._runner.schedule()

    def call_soon(  # type: ignore[override]
        self, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> events.Handle:
        """Run ``callback(*args)`` soon, in FIFO order (asyncio's checks, one call less)."""
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._debug or not _FAST_HANDLE:
            if self._debug:
                self._check_thread()
                self._check_callback(callback, "call_soon")
            handle: Any = events.Handle(callback, args, self, context)
            if handle._source_traceback:
                del handle._source_traceback[-1]
        else:
            handle = _new_handle(_Handle)
            handle._callback = callback
            handle._args = args
            handle._cancelled = False
            handle._loop = self
            handle._source_traceback = None
            handle._repr = None
            handle._context = copy_context() if context is None else context
        self._ready.append(handle)
        if not self._runner_pending:
            self._runner_pending = True
            self._runner.schedule()
        result: events.Handle = handle
        return result

    def _call_soon(
        self, callback: Callable[..., object], args: tuple[Any, ...], context: Context | None
    ) -> events.Handle:
        return self.call_soon(callback, *args, context=context)

    def call_soon_threadsafe(  # type: ignore[override]
        self, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> events.Handle:
        """``call_soon`` from any thread: wakes the loop through its self-pipe."""
        self._check_closed()
        if self._debug:
            self._check_callback(callback, "call_soon_threadsafe")
        handle: Any = events.Handle(callback, args, self, context)
        if handle._source_traceback:
            del handle._source_traceback[-1]
        self._ready.append(handle)
        self._write_to_self()
        result: events.Handle = handle
        return result

    def _write_to_self(self) -> None:
        # Full means a wake-up is already pending; closed means nobody will run.
        with contextlib.suppress(OSError):
            self._csock.send(b"\0")

    def _read_from_self(self) -> None:
        try:
            while self._ssock.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        if self._ready:
            self._kick()

    def _run_ready(self) -> None:
        """The runner: run the callbacks queued before it started, then stop or go on."""
        ready = self._ready
        popleft = ready.popleft
        debug = self._debug
        handle: Any = None
        for _ in range(len(ready)):
            handle = popleft()
            if handle._cancelled:
                continue
            if debug:
                self._run_handle_timed(handle)
                continue
            # Handle._run, inlined: one Python call less per callback.
            try:
                handle._context.run(handle._callback, *handle._args)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                _report_callback_error(self, handle, exc)
        handle = None  # no reference to the last callback while the loop sleeps
        if self._stopping:
            self._runner_pending = False
            self._base.loopbreak()
        elif ready:
            # New work waits for the next iteration: poll the backend first.
            self._base._schedule_deferred_later(self._runner)
        else:
            self._runner_pending = False

    def _run_handle_timed(self, handle: events.Handle) -> None:
        """Run ``handle``, logging it when it takes longer than ``slow_callback_duration``."""
        started = self.time()
        try:
            self._current_handle = handle
            handle._run()
        finally:
            self._current_handle = None
        elapsed = self.time() - started
        if elapsed >= self.slow_callback_duration:
            _logger.warning(
                "Executing %s took %.3f seconds", _base_events._format_handle(handle), elapsed
            )

    # -- timers -----------------------------------------------------------------------------

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> events.TimerHandle:
        """Run ``callback(*args)`` at loop time ``when``, on a levent timer Event."""
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
        timer: Any
        if self._debug or not _FAST_TIMER_HANDLE:
            timer = _TimerHandle(when, callback, args, self, context)
            if timer._source_traceback:
                del timer._source_traceback[-1]
        else:  # TimerHandle.__init__'s work, as in call_soon
            timer = _new_handle(_TimerHandle)
            timer._callback = callback
            timer._args = args
            timer._cancelled = False
            timer._loop = self
            timer._source_traceback = None
            timer._repr = None
            timer._context = copy_context() if context is None else context
            timer._when = when
        ev = Event(self._base, -1, 0, _timer_fired, timer)
        timer._event = ev
        timer._scheduled = True
        self._base._add(ev, float(when), True)
        result: events.TimerHandle = timer
        return result

    # -- readers and writers ----------------------------------------------------------------

    def _ensure_fd_no_transport(self, fd: Any) -> None:
        fileno = _fileobj_to_fd(fd)
        transport = self._transports.get(fileno)
        if transport is not None and not transport.is_closing():
            raise RuntimeError(f"File descriptor {fd!r} is used by transport {transport!r}")

    def _add_watch(
        self,
        watches: dict[int, _FdWatch],
        what: int,
        fd: Any,
        callback: Callable[..., object],
        args: tuple[Any, ...],
    ) -> events.Handle:
        self._check_closed()
        fileno = _fileobj_to_fd(fd)
        handle = events.Handle(callback, args, self, None)
        watch = watches.get(fileno)
        if watch is not None:
            old = watch.handle
            watch.handle = handle
            old.cancel()
            return handle
        watch = _FdWatch(Event(self._base, fileno, what, _fd_ready, None), handle)
        watch.event._arg = watch
        watch.event.add()
        watches[fileno] = watch
        return handle

    def _remove_watch(self, watches: dict[int, _FdWatch], fd: Any) -> bool:
        if self.is_closed():
            return False
        watch = watches.pop(_fileobj_to_fd(fd), None)
        if watch is None:
            return False
        watch.event.delete()
        watch.handle.cancel()
        return True

    def _add_reader(self, fd: Any, callback: Callable[..., object], *args: Any) -> events.Handle:
        return self._add_watch(self._readers, _READ_PERSIST, fd, callback, args)

    def _remove_reader(self, fd: Any) -> bool:
        return self._remove_watch(self._readers, fd)

    def _add_writer(self, fd: Any, callback: Callable[..., object], *args: Any) -> events.Handle:
        return self._add_watch(self._writers, _WRITE_PERSIST, fd, callback, args)

    def _remove_writer(self, fd: Any) -> bool:
        return self._remove_watch(self._writers, fd)

    def add_reader(  # type: ignore[override]
        self, fd: Any, callback: Callable[..., object], *args: Any
    ) -> None:
        """Call ``callback(*args)`` whenever ``fd`` is readable (a persistent EV_READ Event)."""
        self._ensure_fd_no_transport(fd)
        self._add_reader(fd, callback, *args)

    def remove_reader(self, fd: Any) -> bool:
        """Stop watching ``fd`` for reading; False when it was not watched."""
        self._ensure_fd_no_transport(fd)
        return self._remove_reader(fd)

    def add_writer(  # type: ignore[override]
        self, fd: Any, callback: Callable[..., object], *args: Any
    ) -> None:
        """Call ``callback(*args)`` whenever ``fd`` is writable (a persistent EV_WRITE Event)."""
        self._ensure_fd_no_transport(fd)
        self._add_writer(fd, callback, *args)

    def remove_writer(self, fd: Any) -> bool:
        """Stop watching ``fd`` for writing; False when it was not watched."""
        self._ensure_fd_no_transport(fd)
        return self._remove_writer(fd)

    # -- signals ---------------------------------------------------------------------------

    def _check_signal(self, sig: int) -> None:
        if not isinstance(sig, int):
            raise TypeError(f"sig must be an int, not {sig!r}")
        if sig not in signal.valid_signals():
            raise ValueError(f"invalid signal number {sig}")

    def add_signal_handler(  # type: ignore[override]
        self, sig: int, callback: Callable[..., object], *args: Any
    ) -> None:
        """Run ``callback(*args)`` from the loop when ``sig`` arrives (a levent signal Event)."""
        if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._check_signal(sig)
        self._check_closed()
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("set_wakeup_fd only works in main thread of the main interpreter")
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            raise RuntimeError(f"sig {sig:d} cannot be caught")
        handle = events.Handle(callback, args, self, None)
        old = self._signal_events.pop(sig, None)
        if old is not None:
            old._arg.cancel()
            old.free()
        ev = Event(self._base, sig, _SIGNAL_PERSIST, _signal_fired, handle)
        try:
            ev.add()
        except (EventError, OSError, ValueError) as exc:
            ev.free()
            if isinstance(exc, OSError) and exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig:d} cannot be caught") from None
            raise RuntimeError(str(exc)) from None
        self._signal_events[sig] = ev

    def remove_signal_handler(self, sig: int) -> bool:
        """Remove the handler for ``sig``; False when there was none."""
        self._check_signal(sig)
        ev = self._signal_events.pop(sig, None)
        if ev is None:
            return False
        ev._arg.cancel()
        ev.free()
        return True

    # -- name resolution -------------------------------------------------------------------

    async def getaddrinfo(
        self,
        host: bytes | str | None,
        port: bytes | str | int | None,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[tuple[Any, ...]]:
        """``socket.getaddrinfo`` without blocking: through ``dns_base`` (evdns) when the
        loop has one, else in the default executor, as asyncio does."""
        dns = self.dns_base
        if dns is None:
            result: list[tuple[Any, ...]] = await super().getaddrinfo(
                host, port, family=family, type=type, proto=proto, flags=flags
            )
            return result
        node = host.decode("idna") if isinstance(host, bytes) else host
        service = port.decode() if isinstance(port, bytes) else None if port is None else str(port)
        fut: asyncio.Future[list[tuple[Any, ...]]] = self.create_future()

        def answered(err: int, results: list[Any], _arg: object) -> None:
            if fut.done():
                return
            if err:
                fut.set_exception(socket.gaierror(err, _gai_strerror(err)))
            else:
                fut.set_result(results)

        request = dns.getaddrinfo(
            node, service, AddrInfoHints(family, type, proto, flags), answered
        )
        try:
            return await fut
        finally:
            if request is not None and not fut.done():
                request.cancel()

    # -- sockets ----------------------------------------------------------------------------

    def _check_sock(self, sock: socket.socket) -> None:
        _base_events._check_ssl_socket(sock)
        if self._debug and sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")

    def _wait_ready(
        self,
        watches: dict[int, _FdWatch],
        what: int,
        sock: socket.socket,
        attempt: Callable[..., None],
        args: tuple[Any, ...],
        check_transport: bool = True,
    ) -> asyncio.Future[Any]:
        """A future that ``attempt(fut, *args)`` settles, tried at each readiness of
        ``sock``; the watch goes when the future is done."""
        fd = sock.fileno()
        if check_transport:
            self._ensure_fd_no_transport(fd)
        fut = self.create_future()
        handle = self._add_watch(watches, what, fd, attempt, (fut, *args))
        fut.add_done_callback(functools.partial(self._watch_done, watches, fd, handle))
        return fut

    def _watch_done(
        self,
        watches: dict[int, _FdWatch],
        fd: int,
        handle: events.Handle,
        _fut: asyncio.Future[Any],
    ) -> None:
        if not handle.cancelled():
            self._remove_watch(watches, fd)

    def _wait_readable(
        self, sock: socket.socket, attempt: Callable[..., None], *args: Any
    ) -> asyncio.Future[Any]:
        return self._wait_ready(self._readers, _READ_PERSIST, sock, attempt, args)

    def _wait_writable(
        self, sock: socket.socket, attempt: Callable[..., None], *args: Any
    ) -> asyncio.Future[Any]:
        return self._wait_ready(self._writers, _WRITE_PERSIST, sock, attempt, args)

    @staticmethod
    def _attempt(fut: asyncio.Future[Any], sock: socket.socket, name: str, *args: Any) -> None:
        """Try ``sock.<name>(*args)`` again; the method is looked up each time, as asyncio does."""
        if fut.done():
            return
        try:
            result = getattr(sock, name)(*args)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            fut.set_exception(exc)
        else:
            fut.set_result(result)

    async def sock_recv(self, sock: socket.socket, n: int) -> bytes:
        """Receive up to ``n`` bytes from the non-blocking ``sock``."""
        self._check_sock(sock)
        try:
            return sock.recv(n)
        except (BlockingIOError, InterruptedError):
            pass
        result: bytes = await self._wait_readable(sock, self._attempt, sock, "recv", n)
        return result

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        """Receive into ``buf``; returns the number of bytes."""
        self._check_sock(sock)
        try:
            return sock.recv_into(buf)
        except (BlockingIOError, InterruptedError):
            pass
        result: int = await self._wait_readable(sock, self._attempt, sock, "recv_into", buf)
        return result

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, Any]:
        """Receive a datagram of up to ``bufsize`` bytes: ``(data, address)``."""
        self._check_sock(sock)
        try:
            return sock.recvfrom(bufsize)
        except (BlockingIOError, InterruptedError):
            pass
        result: tuple[bytes, Any] = await self._wait_readable(
            sock, self._attempt, sock, "recvfrom", bufsize
        )
        return result

    async def sock_recvfrom_into(
        self, sock: socket.socket, buf: Any, nbytes: int = 0
    ) -> tuple[int, Any]:
        """Receive a datagram into ``buf``: ``(nbytes, address)``."""
        self._check_sock(sock)
        if not nbytes:
            nbytes = len(buf)
        try:
            return sock.recvfrom_into(buf, nbytes)
        except (BlockingIOError, InterruptedError):
            pass
        result: tuple[int, Any] = await self._wait_readable(
            sock, self._attempt, sock, "recvfrom_into", buf, nbytes
        )
        return result

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Any) -> int:
        """Send a datagram to ``address``; returns the number of bytes sent."""
        self._check_sock(sock)
        try:
            return sock.sendto(data, address)
        except (BlockingIOError, InterruptedError):
            pass
        result: int = await self._wait_writable(sock, self._attempt, sock, "sendto", data, address)
        return result

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        """Send all of ``data``."""
        self._check_sock(sock)
        try:
            n = sock.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        if n == len(data):
            return
        view = memoryview(data)
        await self._wait_writable(sock, self._send_some, sock, view, [n])

    @staticmethod
    def _send_some(
        fut: asyncio.Future[None], sock: socket.socket, view: memoryview, pos: list[int]
    ) -> None:
        if fut.done():
            return
        start = pos[0]
        try:
            n = sock.send(view[start:])
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            fut.set_exception(exc)
            return
        start += n
        if start == len(view):
            fut.set_result(None)
        else:
            pos[0] = start

    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        """Connect ``sock`` to ``address`` (resolved first for IP families)."""
        self._check_sock(sock)
        if sock.family == socket.AF_INET or (
            _base_events._HAS_IPv6 and sock.family == socket.AF_INET6
        ):
            resolved = await self._ensure_resolved(
                address, family=sock.family, type=sock.type, proto=sock.proto, loop=self
            )
            _, _, _, _, address = resolved[0]
        try:
            sock.connect(address)
            return
        except (BlockingIOError, InterruptedError):
            pass
        fut = self._wait_writable(sock, self._connect_done, sock, address)
        try:
            await fut
        finally:
            fut = None  # type: ignore[assignment]  # break the traceback cycle

    @staticmethod
    def _connect_done(fut: asyncio.Future[None], sock: socket.socket, address: Any) -> None:
        if fut.done():
            return
        try:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err != 0:
                raise OSError(err, f"Connect call failed {address}")
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            fut.set_exception(exc)
        else:
            fut.set_result(None)

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Any]:
        """Accept a connection: ``(conn, address)``, ``conn`` non-blocking."""
        self._check_sock(sock)
        try:
            conn, address = sock.accept()
            conn.setblocking(False)
            return conn, address
        except (BlockingIOError, InterruptedError):
            pass
        result: tuple[socket.socket, Any] = await self._wait_readable(sock, self._accept_one, sock)
        return result

    @staticmethod
    def _accept_one(fut: asyncio.Future[Any], sock: socket.socket) -> None:
        if fut.done():
            return
        try:
            conn, address = sock.accept()
            conn.setblocking(False)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            fut.set_exception(exc)
        else:
            fut.set_result((conn, address))

    async def _sock_sendfile_native(
        self, sock: socket.socket, file: Any, offset: int, count: int | None
    ) -> int:
        # loop.sock_sendfile(): the socket must not belong to a transport.
        self._ensure_fd_no_transport(sock.fileno())
        return await self._sendfile_with_kernel(sock, file, offset, count)

    async def _sendfile_with_kernel(
        self, sock: socket.socket, file: Any, offset: int, count: int | None
    ) -> int:
        """Copy ``count`` bytes (or to the end) of ``file`` from ``offset`` with
        ``os.sendfile``; the file position ends after the last byte sent, even on error."""
        try:
            fileno = file.fileno()
        except (AttributeError, io.UnsupportedOperation) as err:
            raise asyncio.SendfileNotAvailableError("not a regular file") from err
        try:
            fsize = os.fstat(fileno).st_size
        except OSError:
            raise asyncio.SendfileNotAvailableError("not a regular file") from None
        end = offset + count if count else fsize
        total = 0
        try:
            while offset + total < end:
                want = min(end - offset - total, _SENDFILE_CHUNK)
                try:
                    sent = os.sendfile(sock.fileno(), fileno, offset + total, want)
                except (BlockingIOError, InterruptedError):
                    await self._wait_writable_raw(sock)
                    continue
                except OSError as exc:
                    if total == 0 and exc.errno in (errno.ENOTSOCK, errno.EINVAL, errno.ENOSYS):
                        raise asyncio.SendfileNotAvailableError(
                            "os.sendfile() is not available for this socket"
                        ) from exc
                    raise
                if sent == 0:
                    break  # the file is shorter than it was
                total += sent
        finally:
            if total > 0:
                file.seek(offset + total)
        return total

    async def _wait_writable_raw(self, sock: socket.socket) -> None:
        # Also for a transport's own socket (its bufferevent is idle meanwhile).
        await self._wait_ready(
            self._writers,
            _WRITE_PERSIST,
            sock,
            _futures._set_result_unless_cancelled,
            (None,),
            check_transport=False,
        )

    # -- transports ---------------------------------------------------------------------------

    def _make_socket_transport(
        self,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[Any] | None = None,
        *,
        extra: dict[str, Any] | None = None,
        server: base_events.Server | None = None,
    ) -> StreamTransport:
        return StreamTransport(self, sock, protocol, waiter, extra, server)

    def _make_ssl_transport(
        self,
        rawsock: socket.socket,
        protocol: asyncio.BaseProtocol,
        sslcontext: Any,
        waiter: asyncio.Future[Any] | None = None,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        extra: dict[str, Any] | None = None,
        server: base_events.Server | None = None,
        ssl_handshake_timeout: float | None = constants.SSL_HANDSHAKE_TIMEOUT,
        ssl_shutdown_timeout: float | None = constants.SSL_SHUTDOWN_TIMEOUT,
        call_connection_made: bool = True,
    ) -> asyncio.Transport:
        # typeshed's SSLProtocol wants a waiter and int timeouts; asyncio passes neither.
        make_protocol: Any = sslproto.SSLProtocol
        ssl_protocol = make_protocol(
            self,
            protocol,
            sslcontext,
            waiter,
            server_side,
            server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
            call_connection_made=call_connection_made,
        )
        StreamTransport(self, rawsock, ssl_protocol, None, extra, server)
        transport: asyncio.Transport = ssl_protocol._app_transport
        return transport

    def _make_datagram_transport(
        self,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        address: Any = None,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> asyncio.DatagramTransport:
        from .datagram import DatagramTransport

        return DatagramTransport(self, sock, protocol, address, waiter, extra)

    def _make_read_pipe_transport(
        self,
        pipe: Any,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> asyncio.ReadTransport:
        from .pipes import ReadPipeTransport

        return ReadPipeTransport(self, pipe, protocol, waiter, extra)

    def _make_write_pipe_transport(
        self,
        pipe: Any,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> asyncio.WriteTransport:
        from .pipes import WritePipeTransport

        return WritePipeTransport(self, pipe, protocol, waiter, extra)

    async def _make_subprocess_transport(
        self,
        protocol: asyncio.BaseProtocol,
        args: Any,
        shell: bool,
        stdin: Any,
        stdout: Any,
        stderr: Any,
        bufsize: int,
        extra: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> asyncio.SubprocessTransport:
        from .subprocess import start_subprocess

        return await start_subprocess(
            self, protocol, args, shell, stdin, stdout, stderr, bufsize, extra, **kwargs
        )

    async def _sendfile_native(
        self, transp: asyncio.Transport, file: Any, offset: int, count: int | None
    ) -> int:
        if not isinstance(transp, StreamTransport):
            raise asyncio.SendfileNotAvailableError("the transport is not levent's stream")
        return await transp._sendfile_native(file, offset, count)

    def _start_serving(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        sock: socket.socket,
        sslcontext: Any = None,
        server: base_events.Server | None = None,
        backlog: int = 100,
        ssl_handshake_timeout: float | None = constants.SSL_HANDSHAKE_TIMEOUT,
        ssl_shutdown_timeout: float | None = constants.SSL_SHUTDOWN_TIMEOUT,
    ) -> None:
        self._add_reader(
            sock.fileno(),
            self._accept_connections,
            protocol_factory,
            sock,
            sslcontext,
            server,
            backlog,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
        )

    def _stop_serving(self, sock: socket.socket) -> None:
        self._remove_reader(sock.fileno())
        sock.close()

    def _accept_connections(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        sock: socket.socket,
        sslcontext: Any,
        server: base_events.Server | None,
        backlog: int,
        ssl_handshake_timeout: float | None,
        ssl_shutdown_timeout: float | None,
    ) -> None:
        # Accept what is queued, up to the backlog, each readiness.
        for _ in range(backlog):
            try:
                conn, addr = sock.accept()
                conn.setblocking(False)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Linux keeps reporting the socket readable: pause, retry later.
                    self.call_exception_handler(
                        {
                            "message": "socket.accept() out of system resource",
                            "exception": exc,
                            "socket": trsock.TransportSocket(sock),
                        }
                    )
                    self._remove_reader(sock.fileno())
                    self.call_later(
                        constants.ACCEPT_RETRY_DELAY,
                        self._start_serving,
                        protocol_factory,
                        sock,
                        sslcontext,
                        server,
                        backlog,
                        ssl_handshake_timeout,
                        ssl_shutdown_timeout,
                    )
                    return
                raise
            extra = {"peername": addr}
            if sslcontext:
                self.create_task(
                    self._accept_tls(
                        protocol_factory,
                        conn,
                        extra,
                        sslcontext,
                        server,
                        ssl_handshake_timeout,
                        ssl_shutdown_timeout,
                    )
                )
                continue
            # Plain TCP needs no task: the transport calls connection_made soon.
            try:
                protocol = protocol_factory()
                StreamTransport(self, conn, protocol, None, extra, server)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                conn.close()
                if self._debug:
                    self.call_exception_handler(
                        {
                            "message": "Error on transport creation for incoming connection",
                            "exception": exc,
                        }
                    )

    async def _accept_tls(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        conn: socket.socket,
        extra: dict[str, Any],
        sslcontext: Any,
        server: base_events.Server | None,
        ssl_handshake_timeout: float | None,
        ssl_shutdown_timeout: float | None,
    ) -> None:
        protocol = None
        transport = None
        try:
            protocol = protocol_factory()
            waiter = self.create_future()
            transport = self._make_ssl_transport(
                conn,
                protocol,
                sslcontext,
                waiter=waiter,
                server_side=True,
                extra=extra,
                server=server,
                ssl_handshake_timeout=ssl_handshake_timeout,
                ssl_shutdown_timeout=ssl_shutdown_timeout,
            )
            try:
                await waiter
            except BaseException:
                transport.close()
                raise
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            if self._debug:
                context: dict[str, Any] = {
                    "message": "Error on transport creation for incoming connection",
                    "exception": exc,
                }
                if protocol is not None:
                    context["protocol"] = protocol
                if transport is not None:
                    context["transport"] = transport
                self.call_exception_handler(context)

    # -- Unix sockets -------------------------------------------------------------------------

    async def create_unix_connection(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        path: str | bytes | os.PathLike[str] | None = None,
        *,
        ssl: Any = None,
        sock: socket.socket | None = None,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
        """Connect to the Unix socket ``path`` (or use the connected ``sock``)."""
        assert server_hostname is None or isinstance(server_hostname, str)
        if ssl:
            if server_hostname is None:
                raise ValueError("you have to pass server_hostname when using ssl")
        else:
            if server_hostname is not None:
                raise ValueError("server_hostname is only meaningful with ssl")
            if ssl_handshake_timeout is not None:
                raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
            if ssl_shutdown_timeout is not None:
                raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            path = os.fspath(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
            try:
                sock.setblocking(False)
                await self.sock_connect(sock, path)
            except BaseException:
                sock.close()
                raise
        else:
            if sock is None:
                raise ValueError("no path and sock were specified")
            if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
            sock.setblocking(False)
        transport, protocol = await self._create_connection_transport(
            sock,
            protocol_factory,
            ssl,
            server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
        )
        return transport, protocol

    async def create_unix_server(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        path: str | bytes | os.PathLike[str] | None = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        start_serving: bool = True,
    ) -> asyncio.Server:
        """Listen on the Unix socket ``path`` (a stale socket file there is replaced)."""
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        if ssl_handshake_timeout is not None and not ssl:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None and not ssl:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            path = os.fspath(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            # A socket file left by an earlier server is removed (asyncio does the same).
            if path[0] not in (0, "\x00"):
                try:
                    if stat.S_ISSOCK(os.stat(path).st_mode):
                        os.remove(path)
                except FileNotFoundError:
                    pass
                except OSError as err:
                    _logger.error("Unable to check or remove stale UNIX socket %r: %r", path, err)
            try:
                sock.bind(path)
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE:
                    raise OSError(errno.EADDRINUSE, f"Address {path!r} is already in use") from None
                raise
            except BaseException:
                sock.close()
                raise
        else:
            if sock is None:
                raise ValueError("path was not specified, and no sock specified")
            if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
        sock.setblocking(False)
        server: Any = base_events.Server(
            self,
            [sock],
            protocol_factory,
            ssl,
            backlog,
            ssl_handshake_timeout,
            ssl_shutdown_timeout,
        )
        if start_serving:
            server._start_serving()
            # Let the listening sockets be registered before returning (as asyncio).
            await asyncio.sleep(0)
        result: asyncio.Server = server
        return result
