"""Listener (evconnlistener): accepting, options, errors, back-off; libevent-reference.md §3.8.

Every test using ``base`` runs once per backend. Clients are real sockets on
127.0.0.1 (or a UNIX socket in ``tmp_path``); loops that must end by
themselves (no events left) are bounded by pytest-timeout rather than a
``loopexit``, whose timer would itself keep the loop alive.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import levent
from levent import (
    EVLOOP_ONCE,
    LEV_OPT_BIND_IPV6ONLY,
    LEV_OPT_CLOSE_ON_FREE,
    LEV_OPT_DEFERRED_ACCEPT,
    LEV_OPT_DISABLED,
    LEV_OPT_LEAVE_SOCKETS_BLOCKING,
    LEV_OPT_REUSEABLE,
    LEV_OPT_REUSEABLE_PORT,
    EventBase,
    EventStateError,
    Listener,
)
from levent.listener import ACCEPT_BATCH

LOOPBACK = ("127.0.0.1", 0)


def _connect(listener: Listener) -> socket.socket:
    client = socket.create_connection(listener.socket.getsockname(), timeout=5)
    return client


def _keep(accepted: list[socket.socket]) -> Any:
    def on_accept(lev: Listener, sock: socket.socket, addr: Any, arg: Any) -> None:
        accepted.append(sock)

    return on_accept


def _close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        s.close()


def test_given_two_listeners_on_port_0_they_get_different_ports_and_accept_all(
    base: EventBase,
) -> None:
    """§3.8 #93 (listener/randport): callbacks disabling at a count of 0 end the loop."""
    counts = {"a": 2, "b": 1}
    accepted: list[socket.socket] = []

    def on_accept(lev: Listener, sock: socket.socket, addr: Any, name: str) -> None:
        accepted.append(sock)
        counts[name] -= 1
        if counts[name] == 0:
            lev.disable()

    first = Listener(base, on_accept, "a", LEV_OPT_REUSEABLE, -1, address=LOOPBACK)
    second = Listener(base, on_accept, "b", LEV_OPT_REUSEABLE, -1, address=LOOPBACK)
    assert first.socket.getsockname()[1] != second.socket.getsockname()[1]
    clients = [_connect(first), _connect(first), _connect(second)]
    assert base.dispatch() == 1  # both disabled: no events left, the loop ends by itself
    assert not base.got_exit()
    assert counts == {"a": 0, "b": 0}
    assert len(accepted) == 3
    assert {s.getpeername() for s in accepted} == {c.getsockname() for c in clients}
    first.free()
    second.free()
    _close_all(accepted + clients)


def test_given_a_readable_non_listening_socket_the_error_callback_runs(base: EventBase) -> None:
    """§3.8 #94 (listener/error): accept fails with EINVAL; the error callback sees it."""
    left, right = socket.socketpair()
    right.send(b"x")  # readable, but accept() on it fails
    errors: list[int | None] = []

    def on_error(lev: Listener, arg: Any) -> None:
        assert lev.error is not None
        errors.append(lev.error.errno)
        lev.disable()

    lev = Listener(base, _keep([]), None, 0, 0, sock=left)
    lev.set_error_cb(on_error)
    base.dispatch()
    assert errors and errors[0] in (22, 95)  # EINVAL (Linux), EOPNOTSUPP (BSD)
    lev.free()
    assert left.fileno() >= 0  # not LEV_OPT_CLOSE_ON_FREE: the socket stays open
    left.close()
    right.close()


def test_given_an_accept_error_without_error_callback_it_is_logged(
    base: EventBase, caplog: pytest.LogCaptureFixture
) -> None:
    """With no error callback, libevent logs "Error from accept() call"."""
    left, right = socket.socketpair()
    right.send(b"x")
    lev = Listener(base, _keep([]), None, LEV_OPT_CLOSE_ON_FREE, 0, sock=left)
    Event = levent.Event
    Event.timer(base, lambda fd, what, arg: lev.disable()).add(0.05)
    with caplog.at_level("ERROR", logger="levent"):
        base.dispatch()
    assert any("Error from accept() call" in r.getMessage() for r in caplog.records)
    lev.free()
    assert left.fileno() == -1  # LEV_OPT_CLOSE_ON_FREE closed it
    right.close()


def test_given_a_callback_that_frees_its_listener_nothing_breaks(base: EventBase) -> None:
    """§3.8 #95 (listener/close_accepted_fd): free() inside the callback is safe."""
    accepted: list[socket.socket] = []

    def on_accept(lev: Listener, sock: socket.socket, addr: Any, arg: Any) -> None:
        accepted.append(sock)
        lev.free()

    lev = Listener(base, on_accept, None, 0, -1, address=LOOPBACK)
    clients = [_connect(lev), _connect(lev)]
    assert base.dispatch() == 1
    assert len(accepted) == 1
    assert lev.socket.fileno() == -1  # created by address=: closed on free
    lev.free()  # twice is harmless
    with pytest.raises(EventStateError):
        lev.enable()
    _close_all(accepted + clients)


def test_given_a_callback_disabling_after_one_accept_the_rest_stays_in_the_backlog(
    base: EventBase,
) -> None:
    """§3.8 #95 (listener/immediate_close): the accept loop stops when disabled."""
    accepted: list[socket.socket] = []

    def on_accept(lev: Listener, sock: socket.socket, addr: Any, arg: Any) -> None:
        accepted.append(sock)
        lev.disable()

    lev = Listener(base, on_accept, None, 0, -1, address=LOOPBACK)
    clients = [_connect(lev), _connect(lev)]
    assert base.dispatch() == 1
    assert len(accepted) == 1
    lev.enable()  # the second connection was waiting in the backlog
    base.loop(EVLOOP_ONCE)
    assert len(accepted) == 2
    lev.free()
    _close_all(accepted + clients)


def test_given_backlog_0_or_reuse_on_unix_new_bind_refuses(base: EventBase, tmp_path: Path) -> None:
    """§3.8 #96: backlog 0 → error; REUSEABLE(_PORT) on AF_UNIX → error (2.2)."""
    with pytest.raises(ValueError, match="backlog 0"):
        Listener(base, _keep([]), None, 0, 0, address=LOOPBACK)
    for flag in (LEV_OPT_REUSEABLE, LEV_OPT_REUSEABLE_PORT):
        with pytest.raises(ValueError, match="UNIX"):
            Listener(base, _keep([]), None, flag, -1, address=str(tmp_path / "s"))


def test_given_many_pending_connections_one_readiness_accepts_a_bounded_batch(
    base: EventBase,
) -> None:
    """More than ACCEPT_BATCH pending: one loop pass accepts exactly a batch, the next the rest."""
    accepted: list[socket.socket] = []
    lev = Listener(base, _keep(accepted), None, 0, 512, address=LOOPBACK)
    clients = [_connect(lev) for _ in range(ACCEPT_BATCH + 20)]
    base.loop(EVLOOP_ONCE)
    assert len(accepted) == ACCEPT_BATCH
    base.loop(EVLOOP_ONCE)
    assert len(accepted) == ACCEPT_BATCH + 20
    lev.free()
    _close_all(accepted + clients)


def test_given_default_options_accepted_sockets_are_nonblocking_and_usable(
    base: EventBase,
) -> None:
    """Accepted sockets are non-blocking (unless LEAVE_SOCKETS_BLOCKING) and not inheritable."""
    for flags, blocking in ((0, False), (LEV_OPT_LEAVE_SOCKETS_BLOCKING, True)):
        accepted: list[socket.socket] = []
        lev = Listener(base, _keep(accepted), None, flags, -1, address=LOOPBACK)
        client = _connect(lev)
        base.loop(EVLOOP_ONCE)
        assert len(accepted) == 1
        conn = accepted[0]
        assert conn.getblocking() is blocking
        assert not conn.get_inheritable()  # LEV_OPT_CLOSE_ON_EXEC always holds in Python
        client.sendall(b"ping")
        conn.settimeout(5)
        assert conn.recv(4) == b"ping"
        lev.free()
        _close_all([conn, client])


def test_given_options_the_listening_socket_has_them(base: EventBase) -> None:
    """REUSEABLE → SO_REUSEADDR, REUSEABLE_PORT → SO_REUSEPORT, new_bind → SO_KEEPALIVE."""
    flags = LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_DEFERRED_ACCEPT
    lev = Listener(base, _keep([]), None, flags, -1, address=LOOPBACK)
    sock = lev.socket
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
    if hasattr(socket, "TCP_DEFER_ACCEPT"):
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT) > 0
    assert not sock.getblocking()
    assert lev.fd == sock.fileno() and lev.base is base and lev.enabled
    lev.free()


def test_given_reuseable_port_two_listeners_share_one_port(base: EventBase) -> None:
    """LEV_OPT_REUSEABLE_PORT lets a second listener bind the same address."""
    first = Listener(base, _keep([]), None, LEV_OPT_REUSEABLE_PORT, -1, address=LOOPBACK)
    port = first.socket.getsockname()[1]
    second = Listener(
        base, _keep([]), None, LEV_OPT_REUSEABLE_PORT, -1, address=("127.0.0.1", port)
    )
    assert second.socket.getsockname()[1] == port
    with pytest.raises(OSError):
        Listener(base, _keep([]), None, 0, -1, address=("127.0.0.1", port))
    first.free()
    second.free()


def test_given_ipv6only_the_socket_refuses_ipv4(base: EventBase) -> None:
    """LEV_OPT_BIND_IPV6ONLY sets IPV6_V6ONLY on an IPv6 listener."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    try:
        lev = Listener(base, _keep([]), None, LEV_OPT_BIND_IPV6ONLY, -1, address=("::1", 0))
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    assert lev.socket.family == socket.AF_INET6
    assert lev.socket.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    lev.free()


def test_given_a_unix_path_it_accepts_unix_clients(base: EventBase, tmp_path: Path) -> None:
    """An address that is a path makes an AF_UNIX listener."""
    path = str(tmp_path / "listener.sock")
    accepted: list[socket.socket] = []
    lev = Listener(base, _keep(accepted), None, 0, -1, address=path)
    client = socket.socket(socket.AF_UNIX)
    client.connect(path)
    base.loop(EVLOOP_ONCE)
    assert len(accepted) == 1 and accepted[0].family == socket.AF_UNIX
    lev.free()
    _close_all([*accepted, client])


def test_given_disabled_or_no_callback_it_waits_until_enabled_or_given_one(
    base: EventBase,
) -> None:
    """LEV_OPT_DISABLED starts disabled; a None callback accepts nothing until set_cb."""
    accepted: list[socket.socket] = []
    lev = Listener(base, _keep(accepted), None, LEV_OPT_DISABLED, -1, address=LOOPBACK)
    assert not lev.enabled
    client = _connect(lev)
    assert base.loop(levent.EVLOOP_NONBLOCK) == 1  # nothing pending at all
    lev.enable()
    base.loop(EVLOOP_ONCE)
    assert len(accepted) == 1

    lev.disable()
    quiet = Listener(base, None, None, 0, -1, address=LOOPBACK)
    other = _connect(quiet)
    assert base.loop(levent.EVLOOP_NONBLOCK) == 1  # enabled, but no callback: not watching
    later: list[socket.socket] = []
    quiet.set_cb(_keep(later), "arg")
    base.loop(EVLOOP_ONCE)
    assert len(later) == 1
    lev.free()
    quiet.free()
    _close_all(accepted + later + [client, other])


def test_given_a_raising_callback_the_loop_goes_on_and_later_clients_are_accepted() -> None:
    """An exception in the accept callback is reported; the listener keeps accepting."""
    with EventBase() as base:
        reported: list[BaseException] = []
        base.set_error_handler(lambda b, source, exc: reported.append(exc))
        accepted: list[socket.socket] = []

        def on_accept(lev: Listener, sock: socket.socket, addr: Any, arg: Any) -> None:
            accepted.append(sock)
            if len(accepted) == 1:
                raise RuntimeError("boom")

        lev = Listener(base, on_accept, None, 0, -1, address=LOOPBACK)
        clients = [_connect(lev), _connect(lev)]
        for _ in range(4):
            base.loop(EVLOOP_ONCE | levent.EVLOOP_NONBLOCK)
            if len(accepted) == 2:
                break
        assert len(accepted) == 2
        assert [type(e) for e in reported] == [RuntimeError]
        lev.free()
        _close_all(accepted + clients)


def test_given_bad_arguments_the_listener_says_what_is_wrong(base: EventBase) -> None:
    """Wrong types, both or neither of address/sock, unknown options: precise errors."""
    with pytest.raises(TypeError, match="exactly one"):
        Listener(base, _keep([]), None, 0, -1)
    s = socket.socket()
    with pytest.raises(TypeError, match="exactly one"):
        Listener(base, _keep([]), None, 0, -1, address=LOOPBACK, sock=s)
    s.close()
    with pytest.raises(ValueError, match="unknown listener options"):
        Listener(base, _keep([]), None, 1 << 12, -1, address=LOOPBACK)
    with pytest.raises(TypeError, match="callable"):
        Listener(base, "not callable", None, 0, -1, address=LOOPBACK)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="EventBase"):
        Listener(object(), _keep([]), None, 0, -1, address=LOOPBACK)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"address|expected"):
        # (the compiled build names the expected types instead)
        Listener(base, _keep([]), None, 0, -1, address=("127.0.0.1",))  # type: ignore[arg-type]
    closed = socket.socket()
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        Listener(base, _keep([]), None, 0, -1, sock=closed)
    # The base is still fine.
    assert base.loop(levent.EVLOOP_NONBLOCK) == 1


def test_given_an_fd_and_close_on_free_the_fd_is_closed(base: EventBase) -> None:
    """sock= takes an int fd as well; CLOSE_ON_FREE closes it with the listener."""
    raw = socket.socket()
    raw.bind(LOOPBACK)
    fd = raw.detach()
    lev = Listener(base, _keep([]), None, LEV_OPT_CLOSE_ON_FREE, 16, sock=fd)
    assert lev.fd == fd
    lev.free()
    with pytest.raises(OSError):
        os.fstat(fd)


_EMFILE_SCRIPT = r"""
import os, resource, socket, sys
import levent
from levent import Listener, EventBase, Event

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
base = EventBase()
errors = []
accepted = []
lev = Listener(base, lambda l, s, a, arg: accepted.append(s), None, 0, -1,
               address=("127.0.0.1", 0))
lev.set_error_cb(lambda l, arg: errors.append(l.error.errno))
client = socket.create_connection(lev.socket.getsockname())
# Use up every fd the process may open.
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
hog = []
try:
    while True:
        hog.append(os.open("/dev/null", os.O_RDONLY))
except OSError:
    pass

def release(fd, what, arg):
    for fd in hog:
        os.close(fd)

Event.timer(base, release).add(0.6)
base.loopexit(1.5)
base.dispatch()
print(len(errors), set(errors) == {24}, len(accepted))
"""


def test_given_the_process_out_of_fds_the_listener_backs_off_then_recovers() -> None:
    """DESIGN.md §6: EMFILE reaches the error callback a few times (back-off), not thousands."""
    out = subprocess.run(
        [sys.executable, "-c", _EMFILE_SCRIPT], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    n_errors, only_emfile, n_accepted = out.stdout.split()
    # 0.6 s of exhaustion with back-off 0.05, 0.1, 0.2, 0.4 …: a handful of reports.
    assert 2 <= int(n_errors) <= 8
    assert only_emfile == "True"
    assert n_accepted == "1"  # once fds were free again, the waiting client got in
