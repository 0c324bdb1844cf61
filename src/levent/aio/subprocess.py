"""Subprocesses: asyncio's ``subprocess_exec`` / ``subprocess_shell`` on levent's loop.

``SubprocessTransport`` is asyncio's ``BaseSubprocessTransport`` (the class loops
are meant to subclass: it connects the child's pipes through the loop's pipe
transports and orders the protocol callbacks) with ``_start`` on
``subprocess.Popen``. stdin is a pipe, except on AIX, where (as in unix_events)
it is one end of a socketpair: AIX cannot report a pipe reader's close on the
write end, which ``WritePipeTransport`` watches. Elsewhere it stays a pipe, as
in unix_events: a child cannot ``open("/dev/stdin")`` on a socket.

The child's exit is watched without asyncio's child watchers (process-wide, set
on the policy, deprecated from 3.12): a pidfd (``os.pidfd_open``) turns readable
when the child exits, so one EV_READ Event on it wakes the loop, which reaps the
child with ``os.waitpid``. Where pidfds are missing (not Linux, or a kernel
before 5.3) a daemon thread blocks in ``os.waitpid`` and hands the status to
the loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
from asyncio import base_subprocess
from asyncio.log import logger as _logger
from typing import TYPE_CHECKING, Any, Final

from levent.constants import EV
from levent.event import Event

if TYPE_CHECKING:
    from .loop import EventLoop

__all__ = ["SubprocessTransport", "start_subprocess"]

_READ: Final = int(EV.READ)


class SubprocessTransport(base_subprocess.BaseSubprocessTransport):
    """asyncio's subprocess transport, started by ``subprocess.Popen``."""

    __slots__ = ("_reap_waiters",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._reap_waiters: list[asyncio.Future[None]] = []
        super().__init__(*args, **kwargs)

    def _process_exited(self, returncode: int) -> None:
        try:
            super()._process_exited(returncode)
        finally:
            waiters, self._reap_waiters = self._reap_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _wait_reaped(self) -> None:
        """Wait until the child has exited and been reaped (not for its pipes)."""
        if self._returncode is not None:
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._reap_waiters.append(waiter)
        await waiter

    def _start(
        self,
        args: Any,
        shell: bool,
        stdin: Any,
        stdout: Any,
        stderr: Any,
        bufsize: int,
        **kwargs: Any,
    ) -> None:
        stdin_w: socket.socket | None = None
        if stdin == subprocess.PIPE and sys.platform.startswith("aix"):
            # The child gets one end of a socketpair; we write to the other.
            stdin, stdin_w = socket.socketpair()
        try:
            proc: subprocess.Popen[bytes] = subprocess.Popen(
                args,
                shell=shell,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                universal_newlines=False,
                bufsize=bufsize,
                **kwargs,
            )
            self._proc = proc
            if stdin_w is not None:
                stdin.close()
                proc.stdin = open(stdin_w.detach(), "wb", buffering=bufsize)  # noqa: SIM115
                stdin_w = None
        finally:
            if stdin_w is not None:
                stdin.close()
                stdin_w.close()


def _exit_code(pid: int, proc: subprocess.Popen[Any] | None) -> int:
    """Reap ``pid`` (which has exited or will) and return asyncio's return code."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        # Reaped elsewhere: Popen.poll() (BaseSubprocessTransport.close() calls it)
        # records the status; anyone else leaves none, and asyncio reports 255.
        if proc is not None and proc.returncode is not None:
            return proc.returncode
        _logger.warning("child process pid %d was reaped elsewhere; returncode is 255", pid)
        return 255
    return os.waitstatus_to_exitcode(status)


class _PidfdWatch:
    """One child's pidfd and the EV_READ Event on it; reports the exit once."""

    __slots__ = ("event", "fd", "pid", "transport")

    def __init__(self, loop: EventLoop, transport: SubprocessTransport, pid: int, fd: int) -> None:
        self.transport: SubprocessTransport | None = transport
        self.pid = pid
        self.fd = fd
        self.event = Event(loop._base, fd, _READ, _pidfd_ready, self)

    def close(self) -> None:
        self.event.free()
        fd = self.fd
        if fd >= 0:
            self.fd = -1
            os.close(fd)

    def __del__(self) -> None:
        # The loop was closed before the child exited: at least give the fd back.
        fd = getattr(self, "fd", -1)
        if fd >= 0:
            self.fd = -1
            os.close(fd)


def _pidfd_ready(_fd: int, _what: int, watch: _PidfdWatch) -> None:
    watch.close()
    transport = watch.transport
    watch.transport = None
    if transport is None:
        return
    code = _exit_code(watch.pid, transport._proc)
    loop = transport._loop
    if loop is not None:
        # Let pipe data read in this same iteration reach the protocol first (asyncio
        # skips an iteration too, hopping through call_soon_threadsafe).
        loop.call_soon(transport._process_exited, code)


def _wait_in_thread(loop: EventLoop, transport: SubprocessTransport, pid: int) -> None:
    code = _exit_code(pid, transport._proc)
    # A loop closed before the child exited raises RuntimeError: nobody is left to tell.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(loop.call_soon, transport._process_exited, code)


def _watch_exit(loop: EventLoop, transport: SubprocessTransport) -> None:
    """Call ``transport._process_exited(code)`` from the loop when the child exits."""
    pid = transport.get_pid()
    assert pid is not None
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        try:
            fd: int = pidfd_open(pid)
        except OSError:
            pass  # ENOSYS (a kernel before 5.3), EMFILE, a seccomp filter: use a thread
        else:
            try:
                os.set_blocking(fd, False)
                watch = _PidfdWatch(loop, transport, pid, fd)
                watch.event.add()
            except BaseException:
                os.close(fd)
                raise
            return
    thread = threading.Thread(
        target=_wait_in_thread,
        args=(loop, transport, pid),
        name=f"levent-waitpid-{pid}",
        daemon=True,
    )
    thread.start()


async def start_subprocess(
    loop: EventLoop,
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
    """Start the child and return its transport once its pipes are connected.

    On failure (or cancellation) while connecting, the transport is closed, and
    the child killed and reaped before the exception propagates.
    """
    waiter: asyncio.Future[None] = loop.create_future()
    transport = SubprocessTransport(
        loop,
        protocol,
        args,
        shell,
        stdin,
        stdout,
        stderr,
        bufsize,
        waiter=waiter,
        extra=extra,
        **kwargs,
    )
    _watch_exit(loop, transport)
    try:
        await waiter
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException:
        transport.close()
        # unix_events awaits transport._wait() here, which also waits for every pipe to
        # disconnect and for connection_lost: after a failure in _connect_pipes those
        # never come (a pipe never connected, connection_lost held back for a
        # connection_made that never ran), so it would hang. The child is what must
        # not be left behind: wait until close() has killed it and it is reaped.
        await transport._wait_reaped()
        raise
    return transport
