"""The evutil helpers a Python program still needs (``event2/util.h``).

Most of ``evutil_*`` exists because C lacks it; the stdlib call that replaces
each of the others is named in ``docs/libevent-mapping.md``. What remains here
works on fds or socket objects alike and follows libevent's rules exactly where
they differ from the obvious stdlib call (``parse_sockaddr_port``'s port rules,
``date_rfc1123``'s format).
"""

from __future__ import annotations

import email.utils
import fcntl
import ipaddress
import os
import socket
import time

__all__ = [
    "closeonexec",
    "closesocket",
    "date_rfc1123",
    "make_listen_socket_ipv6only",
    "make_listen_socket_not_ipv6only",
    "make_listen_socket_reuseable",
    "make_listen_socket_reuseable_port",
    "make_socket_closeonexec",
    "make_socket_nonblocking",
    "make_tcp_listen_socket_deferred",
    "parse_sockaddr_port",
    "secure_rng_add_bytes",
    "secure_rng_get_bytes",
    "secure_rng_init",
    "set_tcp_keepalive",
    "sockaddr_family",
    "socket_geterror",
    "socketpair",
]

FdLike = int | socket.socket


def _fd(sock: FdLike) -> int:
    if isinstance(sock, int):
        if sock < 0:
            raise ValueError(f"invalid fd {sock}")
        return sock
    return sock.fileno()


def _sock(sock: FdLike) -> socket.socket:
    """A socket object for ``sock`` that does not own (and so never closes) the fd."""
    if isinstance(sock, socket.socket):
        return sock
    return socket.socket(fileno=os.dup(_fd(sock)))


def socketpair(
    family: int = socket.AF_UNIX, type: int = socket.SOCK_STREAM, proto: int = 0
) -> tuple[socket.socket, socket.socket]:
    """A connected pair of non-blocking, close-on-exec sockets (``evutil_socketpair``)."""
    a, b = socket.socketpair(family, type, proto)
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def make_socket_nonblocking(sock: FdLike) -> None:
    """Set ``O_NONBLOCK`` (``evutil_make_socket_nonblocking``)."""
    os.set_blocking(_fd(sock), False)


def make_socket_closeonexec(sock: FdLike) -> None:
    """Set ``FD_CLOEXEC`` (``evutil_make_socket_closeonexec``)."""
    fd = _fd(sock)
    flags = fcntl.fcntl(fd, fcntl.F_GETFD)
    fcntl.fcntl(fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)


closeonexec = make_socket_closeonexec


def closesocket(sock: FdLike) -> None:
    """Close a socket or fd (``evutil_closesocket``)."""
    if isinstance(sock, socket.socket):
        sock.close()
    else:
        os.close(_fd(sock))


def _setsockopt(sock: FdLike, level: int, option: int, value: int) -> None:
    if isinstance(sock, socket.socket):
        sock.setsockopt(level, option, value)
        return
    s = _sock(sock)
    try:
        s.setsockopt(level, option, value)
    finally:
        s.close()


def make_listen_socket_reuseable(sock: FdLike) -> None:
    """``SO_REUSEADDR`` on a listener (``evutil_make_listen_socket_reuseable``)."""
    _setsockopt(sock, socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)


def make_listen_socket_reuseable_port(sock: FdLike) -> None:
    """``SO_REUSEPORT`` where the OS has it (``evutil_make_listen_socket_reuseable_port``)."""
    option = getattr(socket, "SO_REUSEPORT", None)
    if option is None:
        raise OSError("SO_REUSEPORT is not available on this platform")
    _setsockopt(sock, socket.SOL_SOCKET, option, 1)


def make_listen_socket_ipv6only(sock: FdLike) -> None:
    """``IPV6_V6ONLY`` on (``evutil_make_listen_socket_ipv6only``)."""
    _setsockopt(sock, socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)


def make_listen_socket_not_ipv6only(sock: FdLike) -> None:
    """``IPV6_V6ONLY`` off: accept IPv4-mapped peers too (2.2's ``..._not_ipv6only``)."""
    _setsockopt(sock, socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)


def make_tcp_listen_socket_deferred(sock: FdLike) -> None:
    """``TCP_DEFER_ACCEPT`` where supported; a successful no-op elsewhere, as in libevent."""
    option = getattr(socket, "TCP_DEFER_ACCEPT", None)
    if option is not None:
        _setsockopt(sock, socket.IPPROTO_TCP, option, 1)


def set_tcp_keepalive(sock: FdLike, on: bool, idle_seconds: int = 0) -> None:
    """Turn TCP keep-alive on or off, with an idle time (2.2's ``evutil_set_tcp_keepalive``)."""
    _setsockopt(sock, socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1 if on else 0)
    if on and idle_seconds > 0:
        idle = getattr(socket, "TCP_KEEPIDLE", None)
        if idle is not None:
            _setsockopt(sock, socket.IPPROTO_TCP, idle, idle_seconds)
            _setsockopt(sock, socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, idle_seconds)


def socket_geterror(sock: FdLike) -> int:
    """The pending ``SO_ERROR`` of a socket (``evutil_socket_geterror``)."""
    if isinstance(sock, socket.socket):
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    s = _sock(sock)
    try:
        return s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    finally:
        s.close()


def sockaddr_family(address: object, numeric_only: bool = False) -> int:
    """The address family a Python socket address names (what a ``sockaddr`` carries in C).

    A ``str``/``bytes`` path is AF_UNIX; a ``(host, port, flowinfo, scope_id)``
    tuple or a host with ``:`` is AF_INET6; any other ``(host, port)`` is
    AF_INET. With ``numeric_only`` the host must be an IP address
    (``ValueError`` otherwise), and its version decides.
    """
    if isinstance(address, (str, bytes)):
        return int(socket.AF_UNIX)
    if not isinstance(address, tuple) or len(address) not in (2, 4):
        raise TypeError("address must be (host, port), (host, port, flowinfo, scope_id) or a path")
    host = address[0]
    if not isinstance(host, str):
        raise TypeError("the host of an address must be a str")
    if numeric_only:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(
                f"{host!r} is not a numeric address; use connect_hostname() for names"
            ) from None
        return int(socket.AF_INET6 if ip.version == 6 else socket.AF_INET)
    return int(socket.AF_INET6 if ":" in host or len(address) == 4 else socket.AF_INET)


def parse_sockaddr_port(text: str) -> tuple[str, int] | tuple[str, int, int, int]:
    """Parse ``[v6]:port``, ``[v6]``, ``v6``, ``v4:port``, ``v4`` (``evutil_parse_sockaddr_port``).

    Returns a socket address tuple (``(host, port)`` for IPv4,
    ``(host, port, flowinfo, scope_id)`` for IPv6); a missing port is 0 and an
    explicit port must be 1-65535. Anything else raises ``ValueError``.
    """
    if not isinstance(text, str):
        raise TypeError("address must be a str")
    port = 0
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"unbalanced '[' in address {text!r}")
        host = text[1:close]
        rest = text[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"unexpected text after ']' in {text!r}")
            port = _parse_port(rest[1:], text)
        return _v6(host, port, text)
    if text.count(":") > 1:
        return _v6(text, 0, text)
    host, sep, port_text = text.partition(":")
    if sep:
        port = _parse_port(port_text, text)
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"not an IPv4 or IPv6 address: {text!r}") from None
    return (host, port)


def _parse_port(port_text: str, text: str) -> int:
    if not port_text.isdigit():
        raise ValueError(f"bad port in {text!r}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port out of range 1-65535 in {text!r}")
    return port


def _v6(host: str, port: int, text: str) -> tuple[str, int, int, int]:
    address, _, scope = host.partition("%")
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise ValueError(f"not an IPv6 address: {text!r}") from None
    scope_id = 0
    if scope:
        scope_id = int(scope) if scope.isdigit() else socket.if_nametoindex(scope)
    return (address, port, 0, scope_id)


def secure_rng_init() -> None:
    """``evutil_secure_rng_init``: nothing to seed, ``os.urandom`` is the OS generator."""


def secure_rng_get_bytes(n: int) -> bytes:
    """``n`` cryptographically secure random bytes (``evutil_secure_rng_get_bytes``)."""
    if n < 0:
        raise ValueError("n must be non-negative")
    return os.urandom(n)


def secure_rng_add_bytes(data: bytes) -> None:
    """``evutil_secure_rng_add_bytes``: the OS pool needs no help; accepted and ignored."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("data must be bytes-like")


def date_rfc1123(when: float | None = None) -> str:
    """``Thu, 01 Jan 1970 00:00:00 GMT`` for ``when`` (default now) (``evutil_date_rfc1123``)."""
    return email.utils.formatdate(time.time() if when is None else when, usegmt=True)
