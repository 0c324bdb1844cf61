"""DnsBase: libevent's asynchronous resolver (``evdns_base``, the client half of evdns.c).

One connected UDP socket per nameserver carries every query to it; replies are
read until EAGAIN on each readiness and matched by transaction id and the
echoed question. TCP (one pipelined, length-prefixed connection per
nameserver, idle-closed) is used after a truncated reply, or from the start
with ``DNS_QUERY_USEVC`` / ``use-vc``. Callbacks are deferred, as libevent's
are: they run from the loop after the call or the packet that finished the
request, a batch at a time.

A request's life (:class:`DnsRequest`)::

    state      event                                   next state
    WAITING    a slot under max-inflight and a server  INFLIGHT (sent, timer armed)
    INFLIGHT   timeout, attempts left                  INFLIGHT (resent to the next server)
    INFLIGHT   SERVFAIL, attempts left                 INFLIGHT (resent to the next server now)
    INFLIGHT   NOTIMPL/REFUSED, reissue left           INFLIGHT (server marked down, reissued)
    INFLIGHT   TC over UDP (no IGNTC)                  INFLIGHT (resent over TCP, new id)
    INFLIGHT   negative answer, search names left      INFLIGHT (next search name, new id)
    INFLIGHT   clear_nameservers_and_suspend()         WAITING (front of the queue)
    any        answer / final error / cancel / free    DONE (one callback queued)

A nameserver is good or down. It goes down after ``max-timeouts``
consecutive timeouts (any packet from it resets the count) or a
NOTIMPL/REFUSED answer; a down server is probed with an A query for
"google.com" after ``initial-probe-timeout``, then with back-off
(``config.probe_delay``), and is good again on any answer from it.

Where levent differs from libevent 2.2 (docs/libevent-mapping.md lists them):
a reply whose question does not match (other name, type, class, or letter
case under 0x20), or that is malformed, is dropped and the request keeps
waiting (libevent fails the request with DNS_ERR_UNKNOWN); SERVFAIL moves on
to the next server at once, does not count against the server, and reports
DNS_ERR_SERVERFAILED once the attempts are used up (libevent treats it as a
timeout); absolute names ("host.") are never searched; unknown flag bits raise
ValueError; a missing resolv.conf does not make the constructor fail.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import struct
import sys
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from .. import log
from ..base import EventBase
from ..bufferevent.constants import BEV_EVENT, BEV_OPT
from ..bufferevent.core import BufferEvent
from ..bufferevent.sock import SocketBufferEvent
from ..constants import EV
from ..errors import EventStateError
from ..event import Deferred, Event
from ..util import parse_sockaddr_port
from . import config
from .cache import AddrInfo, DnsCache
from .config import ResolverOptions, SearchList
from .constants import (
    DNS_CNAME,
    DNS_ERR_CANCEL,
    DNS_ERR_FORMAT,
    DNS_ERR_NODATA,
    DNS_ERR_NONE,
    DNS_ERR_NOTEXIST,
    DNS_ERR_NOTIMPL,
    DNS_ERR_REFUSED,
    DNS_ERR_SERVERFAILED,
    DNS_ERR_SHUTDOWN,
    DNS_ERR_TIMEOUT,
    DNS_ERR_TRUNCATED,
    DNS_ERR_UNKNOWN,
    DNS_OPTION,
    DNS_OPTIONS_ALL,
    DNS_PTR,
    DNS_QUERY,
    EVDNS_BASE,
    EVDNS_ERROR,
    DNS_IPv4_A,
    DNS_IPv6_AAAA,
)
from .wire import (
    TYPE_A,
    TYPE_AAAA,
    TYPE_PTR,
    Reply,
    WireError,
    build_query,
    name_to_wire,
    question_bytes,
    randomize_case,
    read_reply,
)

if TYPE_CHECKING:
    from .getaddrinfo import AddrInfoHints, GetAddrInfoCallback, GetAddrInfoRequest

__all__ = ["DnsBase", "DnsRequest", "ResolveCallback", "set_log_fn"]

#: ``cb(result, type, count, ttl, addresses, arg)``.
ResolveCallback = Callable[[int, int, int, int, list[str], Any], object]
#: ``fn(is_warning, message)`` (``evdns_debug_log_fn_type``).
LogFn = Callable[[bool, str], object]

_ALL_BASE_FLAGS: Final = int(
    EVDNS_BASE.INITIALIZE_NAMESERVERS
    | EVDNS_BASE.NO_CACHE
    | EVDNS_BASE.DISABLE_WHEN_INACTIVE
    | EVDNS_BASE.NAMESERVERS_NO_DEFAULT
)
_READ: Final = int(EV.READ)
_WRITE: Final = int(EV.WRITE)
_READ_PERSIST: Final = int(EV.READ | EV.PERSIST)
_WRITE_PERSIST: Final = int(EV.WRITE | EV.PERSIST)
_TCP_CLOSING: Final = int(BEV_EVENT.EOF | BEV_EVENT.ERROR | BEV_EVENT.TIMEOUT)
_NO_SEARCH: Final = int(DNS_QUERY.NO_SEARCH)
_USEVC: Final = int(DNS_QUERY.USEVC)
_IGNTC: Final = int(DNS_QUERY.IGNTC)
_CNAME_CB: Final = int(DNS_QUERY.CNAME_CALLBACK)
_ERR_BY_RCODE: Final = {
    1: DNS_ERR_FORMAT,
    3: DNS_ERR_NOTEXIST,
    4: DNS_ERR_NOTIMPL,
    5: DNS_ERR_REFUSED,
}
_RECV_SIZE: Final = 65535
_PROBE_NAME: Final = "google.com"
_HOSTS_FILE: Final = "/etc/hosts"
_RESOLV_CONF: Final = "/etc/resolv.conf"

# Request states (see the table in the module docstring).
_WAITING: Final = 0
_INFLIGHT: Final = 1
_DONE: Final = 2

_log_fn: LogFn | None = None


def set_log_fn(fn: LogFn | None) -> None:
    """Route resolver log messages to ``fn(is_warning, msg)`` (``evdns_set_log_fn``)."""
    global _log_fn
    _log_fn = fn


def _log(warning: bool, msg: str) -> None:
    if _log_fn is not None:
        _log_fn(warning, msg)
    elif warning:
        log.warn(f"[evdns] {msg}")
    elif log.debug_enabled():
        log.debug(f"[evdns] {msg}")


# Random bytes for transaction ids and 0x20 bits come from the OS CSPRNG, a
# block at a time: one getrandom() per few hundred queries instead of one each.
_pool = b""
_pool_pos = 0


def _random_bytes(n: int) -> bytes:
    global _pool, _pool_pos
    if _pool_pos + n > len(_pool):
        _pool = os.urandom(max(4096, n))
        _pool_pos = 0
    start = _pool_pos
    _pool_pos = start + n
    return _pool[start : start + n]


class _TcpConn:
    """The TCP connection to one nameserver: a bufferevent and the reply being read."""

    __slots__ = ("bev", "need", "ns")

    def __init__(self, bev: BufferEvent, ns: _Nameserver) -> None:
        self.bev = bev
        self.ns = ns
        self.need = 0


class _Nameserver:
    """One nameserver: its UDP socket and read event, health, probe and TCP connection."""

    __slots__ = (
        "addr",
        "backlog",
        "choked",
        "ev_read",
        "ev_write",
        "failed_times",
        "fd",
        "good",
        "inflight",
        "probe_pending",
        "probe_req",
        "probe_timer",
        "recv_into",
        "send",
        "sock",
        "tcp",
        "timedout",
    )

    def __init__(self, addr: tuple[str, int] | tuple[str, int, int, int], sock: socket.socket):
        self.addr = addr
        self.sock = sock
        self.fd = sock.fileno()
        self.send = sock.send
        self.recv_into = sock.recv_into
        self.good = True
        self.timedout = 0
        self.failed_times = 0
        self.inflight = 0
        self.choked = False
        self.backlog: deque[DnsRequest] = deque()
        self.probe_req: DnsRequest | None = None
        self.probe_pending = False
        self.tcp: _TcpConn | None = None
        self.ev_write: Event | None = None
        self.ev_read: Event
        self.probe_timer: Event

    def __repr__(self) -> str:
        state = "good" if self.good else f"down(failed={self.failed_times})"
        return f"<nameserver {self.addr[0]}:{self.addr[1]} {state} inflight={self.inflight}>"


class DnsRequest:
    """An outstanding lookup (``struct evdns_request``): cancel it, or wait for its callback."""

    __slots__ = (
        "_addresses",
        "_arg",
        "_cb",
        "_cname",
        "_dns",
        "_ignore_tc",
        "_index",
        "_kind",
        "_names",
        "_need_cname",
        "_ns",
        "_packet",
        "_probe",
        "_qtype",
        "_question",
        "_reissues",
        "_result",
        "_seq",
        "_state",
        "_tcp",
        "_ttl",
        "_tx",
        "_txid",
    )

    def __init__(
        self,
        dns: DnsBase,
        qtype: int,
        kind: int,
        names: list[str],
        flags: int,
        cb: ResolveCallback,
        arg: Any,
    ) -> None:
        self._dns = dns
        self._qtype = qtype
        self._kind = kind
        self._names = names
        self._index = 0
        self._cb: ResolveCallback | None = cb
        self._arg = arg
        opts = dns._opts
        self._tcp = bool(flags & _USEVC) or opts.use_vc
        self._ignore_tc = bool(flags & _IGNTC) or opts.ignore_tc
        self._need_cname = bool(flags & _CNAME_CB)
        self._state = _WAITING
        self._ns: _Nameserver | None = None
        self._probe: _Nameserver | None = None
        self._txid = -1
        self._tx = 0
        self._reissues = 0
        self._seq = 0
        self._question = b""
        self._packet = b""
        self._result = 0
        self._ttl = 0
        self._addresses: list[str] = []
        self._cname: str | None = None

    def cancel(self) -> None:
        """Cancel (``evdns_cancel_request``): the callback runs once, with ``DNS_ERR_CANCEL``.

        A no-op once the request has finished (its callback is queued or ran).
        """
        self._dns.cancel_request(self)

    @property
    def name(self) -> str:
        """The name currently being asked (a search candidate, while searching)."""
        return self._names[min(self._index, len(self._names) - 1)]

    def __repr__(self) -> str:
        state = ("waiting", "inflight", "done")[self._state]
        return f"<DnsRequest {self.name!r} type={self._qtype} {state} tx={self._tx}>"


class DnsBase:
    """An asynchronous resolver on an EventBase (``evdns_base``; constructor ``evdns_base_new``).

    ``flags``: ``EVDNS_BASE_INITIALIZE_NAMESERVERS`` reads /etc/resolv.conf
    and /etc/hosts; ``NAMESERVERS_NO_DEFAULT`` skips the 127.0.0.1 fallback;
    ``DISABLE_WHEN_INACTIVE`` lets the loop exit while no request is
    outstanding; ``NO_CACHE`` turns the getaddrinfo cache off.
    """

    __slots__ = (
        "_base",
        "_buf",
        "_by_id",
        "_cache",
        "_cursor",
        "_deliver",
        "_done",
        "_dwi",
        "_flags",
        "_freed",
        "_good",
        "_hosts",
        "_n_inflight",
        "_opts",
        "_search",
        "_servers",
        "_sweep",
        "_sweep_at",
        "_timeouts",
        "_waiting",
    )

    def __init__(self, base: EventBase, flags: int = EVDNS_BASE.INITIALIZE_NAMESERVERS) -> None:
        flags = int(flags)
        if flags & ~_ALL_BASE_FLAGS or flags < 0:
            raise ValueError(f"unknown EVDNS_BASE flags {flags & ~_ALL_BASE_FLAGS:#x}")
        base._check_usable()
        self._freed = True  # until construction succeeds
        self._base = base
        self._flags = EVDNS_BASE(flags)
        self._opts = ResolverOptions()
        self._search = SearchList()
        self._servers: list[_Nameserver] = []
        self._cursor = 0
        self._good = 0
        self._by_id: dict[int, DnsRequest] = {}
        self._waiting: deque[DnsRequest] = deque()
        self._n_inflight = 0
        # Every request waits the same timeout, so deadlines are queued in
        # order: one timer for the earliest instead of one Event per request.
        self._timeouts: deque[tuple[float, int, DnsRequest]] = deque()
        self._sweep = Event.timer(base, self._on_sweep)
        self._sweep_at = 0.0
        self._done: deque[DnsRequest] = deque()
        self._deliver = Deferred(base, self._deliver_callbacks)
        self._dwi = bool(flags & EVDNS_BASE.DISABLE_WHEN_INACTIVE)
        self._hosts: dict[str, list[tuple[int, str]]] = {}
        self._cache: DnsCache | None = None if flags & EVDNS_BASE.NO_CACHE else DnsCache()
        self._buf = bytearray(_RECV_SIZE)
        self._freed = False
        if flags & EVDNS_BASE.INITIALIZE_NAMESERVERS:
            opts = int(DNS_OPTIONS_ALL)
            if flags & EVDNS_BASE.NAMESERVERS_NO_DEFAULT:
                opts |= DNS_OPTION.NAMESERVERS_NO_DEFAULT
            self.resolv_conf_parse(opts, _RESOLV_CONF)

    # -- lifetime ------------------------------------------------------------------

    def _check(self) -> None:
        if self._freed:
            raise EventStateError("the DnsBase has been freed")

    @property
    def base(self) -> EventBase:
        """The EventBase the resolver runs on."""
        return self._base

    @property
    def freed(self) -> bool:
        """True once ``free()`` ran."""
        return self._freed

    def free(self, fail_requests: bool = False) -> None:
        """Shut down (``evdns_base_free``): sockets closed, pending requests dropped.

        With ``fail_requests`` each pending request's callback gets
        ``DNS_ERR_SHUTDOWN`` (from the loop, as libevent defers it). Idempotent.
        """
        if self._freed:
            return
        pending = [*self._waiting, *self._by_id.values()]
        for req in pending:
            if fail_requests and req._probe is None:
                self._complete(req, DNS_ERR_SHUTDOWN)
            else:
                self._discard(req)
        self._freed = True
        for ns in self._servers:
            self._close_server(ns)
        self._servers = []
        self._good = 0
        self._stop_sweep()
        self._hosts.clear()

    def __enter__(self) -> DnsBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def __repr__(self) -> str:
        state = "freed" if self._freed else f"{len(self._servers)} nameservers"
        return (
            f"<DnsBase {state} inflight={self._n_inflight} waiting={len(self._waiting)}"
            f" good={self._good}>"
        )

    # -- nameservers -----------------------------------------------------------------

    def nameserver_add(self, address: int) -> None:
        """Add an IPv4 server on port 53 (``evdns_base_nameserver_add``).

        ``address`` is a C ``in_addr.s_addr``: network byte order in memory,
        so ``socket.htonl(0x7F000001)`` is 127.0.0.1.
        """
        packed = (int(address) & 0xFFFFFFFF).to_bytes(4, sys.byteorder)
        self._add_server((socket.inet_ntoa(packed), 53))

    def nameserver_ip_add(self, text: str) -> None:
        """Add a server from ``"addr[:port]"`` text, port 53 by default
        (``evdns_base_nameserver_ip_add``); ValueError for bad text or a duplicate."""
        addr = parse_sockaddr_port(text)
        if addr[1] == 0:
            addr = (addr[0], 53) if len(addr) == 2 else (addr[0], 53, addr[2], addr[3])
        self._add_server(addr)

    def nameserver_sockaddr_add(
        self, address: tuple[str, int] | tuple[str, int, int, int], flags: int = 0
    ) -> None:
        """Add a server by socket address (``evdns_base_nameserver_sockaddr_add``)."""
        if not isinstance(address, tuple) or len(address) not in (2, 4):
            raise TypeError("address must be (host, port) or (host, port, flowinfo, scope_id)")
        ipaddress.ip_address(address[0])  # numeric only
        self._add_server(address)

    def _add_server(self, addr: tuple[str, int] | tuple[str, int, int, int]) -> None:
        self._check()
        ip = ipaddress.ip_address(addr[0])
        for ns in self._servers:
            if ipaddress.ip_address(ns.addr[0]) == ip and ns.addr[1] == addr[1]:
                raise ValueError(f"nameserver {addr[0]} port {addr[1]} is already configured")
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            opts = self._opts
            if opts.bind_to is not None and not ip.is_loopback:
                sock.bind(opts.bind_to)
            if opts.so_rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, opts.so_rcvbuf)
            if opts.so_sndbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, opts.so_sndbuf)
            # A connected socket: the kernel drops datagrams from any other
            # address or port, and send/recv skip the address on every packet.
            sock.connect(addr)
        except OSError:
            sock.close()
            raise
        ns = _Nameserver(addr, sock)
        ns.ev_read = Event(self._base, ns.fd, _READ_PERSIST, self._on_readable, ns)
        ns.probe_timer = Event.timer(self._base, self._on_probe_timer, ns)
        if not self._dwi:
            ns.ev_read.add()
        self._servers.append(ns)
        self._good += 1
        _log(False, f"added nameserver {addr[0]}:{addr[1]}")

    def count_nameservers(self) -> int:
        """How many servers are configured (``evdns_base_count_nameservers``)."""
        return len(self._servers)

    def get_nameserver_addr(self, idx: int) -> tuple[str, int] | tuple[str, int, int, int] | None:
        """The socket address of server ``idx`` in the order added, or None
        (``evdns_base_get_nameserver_addr``)."""
        if 0 <= idx < len(self._servers):
            return self._servers[idx].addr
        return None

    def get_nameserver_fd(self, idx: int) -> int:
        """The UDP socket fd of server ``idx``, or -1 (``evdns_base_get_nameserver_fd``)."""
        if 0 <= idx < len(self._servers):
            return self._servers[idx].fd
        return -1

    def clear_nameservers_and_suspend(self) -> None:
        """Drop every server; in-flight requests wait (first in line) for ``resume()``
        (``evdns_base_clear_nameservers_and_suspend``)."""
        self._check()
        suspended: list[DnsRequest] = []
        for req in list(self._by_id.values()):
            if req._probe is not None:
                self._discard(req)
                continue
            self._unlink_inflight(req)
            req._state = _WAITING
            req._tx = req._reissues = 0
            suspended.append(req)
        for ns in self._servers:
            self._close_server(ns)
        self._servers = []
        self._good = 0
        self._cursor = 0
        self._waiting.extendleft(reversed(suspended))
        self._stop_sweep()

    def resume(self) -> None:
        """Send the waiting requests to the current servers (``evdns_base_resume``)."""
        self._check()
        self._pump()

    def _close_server(self, ns: _Nameserver) -> None:
        ns.ev_read.delete()
        if ns.ev_write is not None:
            ns.ev_write.delete()
        ns.probe_timer.delete()
        if ns.probe_req is not None:
            self._discard(ns.probe_req)
            ns.probe_req = None
        self._tcp_close(ns)
        ns.backlog.clear()
        ns.sock.close()

    # -- options, search list, resolv.conf ----------------------------------------

    def set_option(self, name: str, value: str | None) -> None:
        """Set a resolver option, ``"name"`` or ``"name:"`` (``evdns_base_set_option``).

        A bad value raises ValueError; an unknown name is ignored.
        """
        self._check()
        self._set_option(name, value, int(DNS_OPTIONS_ALL))

    def _set_option(self, name: str, value: str | None, flags: int) -> None:
        ndots = config.ndots_option(name, value)
        if ndots is not None:
            if flags & DNS_OPTION.SEARCH:
                self._search.ndots = ndots
            return
        before = self._opts.max_inflight
        config.apply_option(self._opts, name, value, flags)
        if self._opts.max_inflight > before:
            self._pump()

    def search_add(self, domain: str) -> None:
        """Append a search domain (``evdns_base_search_add``)."""
        self._check()
        self._search.add(domain)

    def search_clear(self) -> None:
        """Remove every search domain (``evdns_base_search_clear``)."""
        self._check()
        self._search.clear()

    def search_ndots_set(self, ndots: int) -> None:
        """Names with ``ndots`` dots or more go as-is first (``evdns_base_search_ndots_set``)."""
        self._check()
        self._search.ndots = int(ndots)

    def resolv_conf_parse(self, flags: int, filename: str | None) -> EVDNS_ERROR:
        """Read a resolv.conf (``evdns_base_resolv_conf_parse``); returns an ``EVDNS_ERROR``.

        ``flags`` (``DNS_OPTION_*``) say what to take from it. A missing file
        gives FAILED_TO_OPEN_FILE after applying the defaults (127.0.0.1 and the
        hostname's domain); no nameserver in the file gives NO_NAMESERVERS
        after adding 127.0.0.1 (unless ``DNS_OPTION_NAMESERVERS_NO_DEFAULT``).
        """
        self._check()
        flags = int(flags)
        add_default = bool(flags & DNS_OPTION.NAMESERVERS) and not (
            flags & DNS_OPTION.NAMESERVERS_NO_DEFAULT
        )
        if flags & DNS_OPTION.HOSTSFILE:
            with contextlib.suppress(OSError):
                self.load_hosts(_HOSTS_FILE)
        if filename is None:
            self._resolv_defaults(flags, add_default)
            return EVDNS_ERROR.FAILED_TO_OPEN_FILE
        try:
            with open(filename, "rb") as f:
                data = f.read()
        except IsADirectoryError:
            return EVDNS_ERROR.FAILED_TO_STAT_FILE
        except OSError:
            self._resolv_defaults(flags, add_default)
            return EVDNS_ERROR.FAILED_TO_OPEN_FILE
        for keyword, args in config.parse_resolv_conf(data.decode("latin-1")):
            self._resolv_directive(keyword, args, flags)
        err = EVDNS_ERROR.NONE
        if not self._servers and add_default:
            self._add_default_server()
            err = EVDNS_ERROR.NO_NAMESERVERS
        if flags & DNS_OPTION.SEARCH and not self._search.domains:
            self._search_from_hostname()
        return err

    def _resolv_directive(self, keyword: str, args: list[str], flags: int) -> None:
        if keyword == "nameserver":
            if flags & DNS_OPTION.NAMESERVERS:
                try:
                    self.nameserver_ip_add(args[0])
                except (ValueError, OSError) as exc:
                    _log(True, f"unable to add nameserver {args[0]}: {exc}")
        elif keyword in ("domain", "search"):
            if flags & DNS_OPTION.SEARCH:
                self._search.clear()
                for domain in args:
                    self._search.add(domain)
        else:
            for option in args:
                name, _, value = option.partition(":")
                try:
                    self._set_option(option, value, flags)
                except ValueError as exc:
                    _log(True, f"bad option {name!r} in resolv.conf: {exc}")

    def _resolv_defaults(self, flags: int, add_default: bool) -> None:
        if flags & DNS_OPTION.SEARCH:
            self._search_from_hostname()
        if add_default:
            self._add_default_server()

    def _add_default_server(self) -> None:
        with contextlib.suppress(ValueError):
            self.nameserver_ip_add("127.0.0.1")

    def _search_from_hostname(self) -> None:
        self._search.clear()
        domain = config.domain_from_hostname()
        if domain:
            self._search.add(domain)

    # -- hosts file and cache --------------------------------------------------------

    def load_hosts(self, filename: str | None = None) -> None:
        """Add a hosts file's entries (``evdns_base_load_hosts``); None adds just localhost.

        An unreadable file adds the localhost entries, then raises OSError.
        """
        self._check()
        if filename is None:
            self._add_localhost()
            return
        try:
            with open(filename, "rb") as f:
                text = f.read().decode("latin-1")
        except OSError:
            self._add_localhost()
            raise
        for name, family, address in config.parse_hosts(text):
            self._hosts.setdefault(name.lower(), []).append((family, address))

    def _add_localhost(self) -> None:
        entries = self._hosts.setdefault("localhost", [])
        entries.append((int(socket.AF_INET), "127.0.0.1"))
        entries.append((int(socket.AF_INET6), "::1"))

    def clear_host_addresses(self) -> None:
        """Forget every hosts-file entry (``evdns_base_clear_host_addresses``)."""
        self._check()
        self._hosts.clear()

    def _hosts_lookup(self, name: str) -> list[tuple[int, str]] | None:
        return self._hosts.get(name.lower())

    def cache_write(self, name: str, results: list[AddrInfo], ttl: float) -> None:
        """Cache getaddrinfo ``results`` for ``name``, ``ttl`` seconds (``evdns_cache_write``).

        A no-op with ``EVDNS_BASE_NO_CACHE``.
        """
        self._check()
        if self._cache is not None:
            self._cache.write(name, [(r[0], r[4][0]) for r in results], ttl)

    def cache_lookup(
        self, name: str, hints: AddrInfoHints | None = None, port: int = 0
    ) -> list[AddrInfo] | None:
        """Cached results for ``name`` shaped by ``hints`` and ``port``, or None on a miss
        (2.2 ``evdns_cache_lookup``). Expired entries are dropped here."""
        from .getaddrinfo import AddrInfoHints, expand

        self._check()
        if self._cache is None:
            return None
        h = hints if hints is not None else AddrInfoHints()
        found = self._cache.lookup(name, h.family)
        if found is None:
            return None
        return expand(found, h, port, "")

    # -- queries -----------------------------------------------------------------------

    def resolve_ipv4(
        self, name: str, flags: int, cb: ResolveCallback, arg: Any = None
    ) -> DnsRequest:
        """Look up A records (``evdns_base_resolve_ipv4``); ValueError for an empty name."""
        return self._resolve(name, flags, cb, arg, TYPE_A, DNS_IPv4_A)

    def resolve_ipv6(
        self, name: str, flags: int, cb: ResolveCallback, arg: Any = None
    ) -> DnsRequest:
        """Look up AAAA records (``evdns_base_resolve_ipv6``)."""
        return self._resolve(name, flags, cb, arg, TYPE_AAAA, DNS_IPv6_AAAA)

    def resolve_reverse(
        self, addr: str | bytes, flags: int, cb: ResolveCallback, arg: Any = None
    ) -> DnsRequest:
        """PTR lookup of ``"1.2.3.4"`` or 4 packed bytes (``evdns_base_resolve_reverse``)."""
        ip = ipaddress.IPv4Address(addr)
        name = ".".join(reversed(str(ip).split("."))) + ".in-addr.arpa"
        return self._resolve(name, int(flags) | _NO_SEARCH, cb, arg, TYPE_PTR, DNS_PTR)

    def resolve_reverse_ipv6(
        self, addr: str | bytes, flags: int, cb: ResolveCallback, arg: Any = None
    ) -> DnsRequest:
        """PTR lookup of an IPv6 address, text or 16 bytes (``evdns_base_resolve_reverse_ipv6``)."""
        ip = ipaddress.IPv6Address(addr)
        nibbles = ip.packed.hex()[::-1]
        name = ".".join(nibbles) + ".ip6.arpa"
        return self._resolve(name, int(flags) | _NO_SEARCH, cb, arg, TYPE_PTR, DNS_PTR)

    def cancel_request(self, req: DnsRequest) -> None:
        """``evdns_cancel_request``: see :meth:`DnsRequest.cancel`."""
        if req._state == _DONE or req._dns is not self:
            return
        self._complete(req, DNS_ERR_CANCEL)

    def getaddrinfo(
        self,
        nodename: str | None,
        servname: str | None,
        hints: AddrInfoHints | None,
        cb: GetAddrInfoCallback,
        arg: Any = None,
    ) -> GetAddrInfoRequest | None:
        """``evdns_getaddrinfo``: see :func:`levent.dns.getaddrinfo.getaddrinfo`."""
        from .getaddrinfo import getaddrinfo

        return getaddrinfo(self, nodename, servname, hints, cb, arg)

    def getaddrinfo_cancel(self, req: GetAddrInfoRequest) -> None:
        """``evdns_getaddrinfo_cancel``: the callback gets ``EVUTIL_EAI_CANCEL``."""
        req.cancel()

    def _resolve(
        self, name: str, flags: int, cb: ResolveCallback, arg: Any, qtype: int, kind: int
    ) -> DnsRequest:
        self._check()
        if not isinstance(name, str):
            raise TypeError("name must be a str")
        if not name:
            raise ValueError("cannot resolve an empty name")
        if not callable(cb):
            raise TypeError("callback must be callable")
        flags = int(flags)
        search = self._search
        names = [name] if flags & _NO_SEARCH or not search.domains else search.candidates(name)
        req = DnsRequest(self, qtype, kind, names, flags, cb, arg)
        if not self._next_question(req, 0):
            raise ValueError(f"cannot encode DNS name {name!r}")
        self._submit(req)
        return req

    def _next_question(self, req: DnsRequest, index: int) -> bool:
        """Encode the first encodable name from ``req._names[index:]``; False if none is."""
        names = req._names
        while index < len(names):
            try:
                wire = name_to_wire(names[index])
            except ValueError:
                index += 1
                continue
            if self._opts.randomize_case:
                wire = randomize_case(wire, _random_bytes(len(wire)))
            req._index = index
            req._question = question_bytes(wire, req._qtype)
            return True
        return False

    # -- dispatch: waiting queue, nameserver choice, transmission ---------------------

    def _submit(self, req: DnsRequest) -> None:
        probe = req._probe
        if probe is None:
            if self._n_inflight >= self._opts.max_inflight:
                self._waiting.append(req)
                return
            ns = self._pick()
            if ns is None:
                self._waiting.append(req)
                return
        else:
            ns = probe  # probes go to their server, whatever the in-flight count
        self._launch(req, ns)

    def _pump(self) -> None:
        """Move waiting requests in flight while there is room (``..._pump_waiting_queue``)."""
        waiting = self._waiting
        limit = self._opts.max_inflight
        while waiting and self._n_inflight < limit:
            ns = self._pick()
            if ns is None:
                return
            self._launch(waiting.popleft(), ns)

    def _pick(self) -> _Nameserver | None:
        """Round-robin over good servers; any server when all are down (``nameserver_pick``)."""
        servers = self._servers
        n = len(servers)
        if not n:
            return None
        cursor = self._cursor
        if self._good:
            for _ in range(n):
                ns = servers[cursor]
                cursor = cursor + 1 if cursor + 1 < n else 0
                if ns.good:
                    self._cursor = cursor
                    return ns
        ns = servers[cursor % n]
        self._cursor = (cursor + 1) % n
        return ns

    def _launch(self, req: DnsRequest, ns: _Nameserver) -> None:
        req._state = _INFLIGHT
        self._n_inflight += 1
        self._attach(req, ns)
        self._assign_id(req)
        req._tx = 0
        self._transmit(req)

    def _assign_id(self, req: DnsRequest) -> None:
        by_id = self._by_id
        while True:
            rnd = _random_bytes(2)
            txid = (rnd[0] << 8) | rnd[1]
            if txid != 0xFFFF and txid not in by_id:
                break
        req._txid = txid
        by_id[txid] = req
        req._packet = build_query(txid, req._question, self._opts.edns_udp_size)

    def _attach(self, req: DnsRequest, ns: _Nameserver) -> None:
        req._ns = ns
        ns.inflight += 1
        if ns.inflight == 1 and self._dwi:
            ns.ev_read.add()
            if ns.probe_pending:
                ns.probe_pending = False
                ns.probe_timer.add(self._opts.initial_probe_timeout)

    def _detach(self, req: DnsRequest) -> None:
        ns = req._ns
        if ns is None:
            return
        req._ns = None
        ns.inflight -= 1
        if ns.choked and ns.backlog:
            with contextlib.suppress(ValueError):
                ns.backlog.remove(req)
        if ns.inflight == 0 and self._dwi and not self._freed:
            ns.ev_read.delete()
            if ns.probe_timer.pending(_TIMEOUT_FLAG):
                ns.probe_timer.delete()
                ns.probe_pending = True

    def _move(self, req: DnsRequest, ns: _Nameserver | None) -> None:
        if ns is None or ns is req._ns:
            return
        self._detach(req)
        self._attach(req, ns)

    def _transmit(self, req: DnsRequest) -> None:
        """Send ``req`` to its server (``evdns_request_transmit``) and arm its timeout."""
        ns = req._ns
        assert ns is not None
        if req._tcp:
            self._tcp_send(ns, req)
        elif ns.choked:
            ns.backlog.append(req)
            return
        else:
            try:
                ns.send(req._packet)
            except BlockingIOError:
                self._choke(ns, req)
                return
            except OSError as exc:
                # ECONNREFUSED reports an earlier ICMP error on this connected
                # socket; the send itself can go through.
                if exc.errno != errno.ECONNREFUSED or not self._send_again(ns, req):
                    _log(True, f"error sending to {ns.addr[0]}: {exc}")
        req._tx += 1
        self._arm_timeout(req)

    def _send_again(self, ns: _Nameserver, req: DnsRequest) -> bool:
        try:
            ns.send(req._packet)
        except OSError:
            return False
        return True

    def _choke(self, ns: _Nameserver, req: DnsRequest) -> None:
        ns.choked = True
        ns.backlog.append(req)
        if ns.ev_write is None:
            ns.ev_write = Event(self._base, ns.fd, _WRITE_PERSIST, self._on_writable, ns)
        ns.ev_write.add()

    def _on_writable(self, _fd: int, _what: int, ns: _Nameserver) -> None:
        ns.choked = False
        assert ns.ev_write is not None
        ns.ev_write.delete()
        backlog = ns.backlog
        while backlog and not ns.choked:
            req = backlog.popleft()
            if req._state == _INFLIGHT and req._ns is ns:
                self._transmit(req)

    # -- timeouts ------------------------------------------------------------------------

    def _arm_timeout(self, req: DnsRequest) -> None:
        req._seq += 1
        timeout = self._opts.timeout
        deadline = self._base._now() + timeout
        queue = self._timeouts
        if queue and deadline < queue[-1][0]:
            # Only after the timeout option shrank: keep the queue in deadline order.
            queue.append((deadline, req._seq, req))
            self._timeouts = deque(sorted(queue, key=lambda e: e[0]))
        else:
            queue.append((deadline, req._seq, req))
        if not self._sweep.pending(_TIMEOUT_FLAG) or deadline < self._sweep_at:
            self._sweep_at = deadline
            self._sweep.add(timeout)

    def _on_sweep(self, _fd: int, _what: int, _arg: object) -> None:
        now = self._base._now() + 1e-6
        queue = self._timeouts
        while queue:
            deadline, seq, req = queue[0]
            if req._seq != seq or req._state != _INFLIGHT:
                queue.popleft()
                continue
            if deadline > now:
                break
            queue.popleft()
            self._timed_out(req)
        self._rearm_sweep()

    def _rearm_sweep(self) -> None:
        queue = self._timeouts
        while queue and (queue[0][2]._seq != queue[0][1] or queue[0][2]._state != _INFLIGHT):
            queue.popleft()
        if queue and not self._freed:
            deadline = queue[0][0]
            self._sweep_at = deadline
            self._sweep.add(max(0.0, deadline - self._base._now()))
        else:
            self._sweep.delete()

    def _stop_sweep(self) -> None:
        self._timeouts.clear()
        self._sweep.delete()

    def _timed_out(self, req: DnsRequest) -> None:
        """``evdns_request_timeout_callback``: count it against the server, then resend or fail."""
        ns = req._ns
        assert ns is not None
        self._server_timed_out(ns)
        if req._state != _INFLIGHT:
            return  # a probe discarded because its server went down meanwhile
        if req._tx >= self._max_tx(req):
            self._complete(req, DNS_ERR_TIMEOUT)
            return
        if req._tcp:
            # The connection is suspect: start a new one and resend everything on it.
            self._tcp_close(ns)
            for other in [r for r in self._by_id.values() if r._ns is ns and r._tcp]:
                if other._tx >= self._max_tx(other):
                    self._complete(other, DNS_ERR_TIMEOUT)
                else:
                    self._transmit(other)
            return
        self._move(req, req._probe or self._pick())
        self._transmit(req)

    def _max_tx(self, req: DnsRequest) -> int:
        return 1 if req._probe is not None else self._opts.attempts

    # -- nameserver health ---------------------------------------------------------------

    def _server_timed_out(self, ns: _Nameserver) -> None:
        ns.timedout += 1
        if ns.good and ns.timedout >= self._opts.max_timeouts:
            self._server_failed(ns, "request timed out")

    def _server_failed(self, ns: _Nameserver, why: str) -> None:
        """``nameserver_failed``: mark ``ns`` down and schedule its first probe."""
        if not ns.good:
            return
        _log(False, f"nameserver {ns.addr[0]}:{ns.addr[1]} has failed: {why}")
        ns.good = False
        ns.timedout = 0
        ns.failed_times = 1
        self._good -= 1
        self._tcp_close(ns)
        if self._dwi and ns.inflight == 0:
            ns.probe_pending = True
        else:
            ns.probe_timer.add(self._opts.initial_probe_timeout)

    def _server_up(self, ns: _Nameserver) -> None:
        """``nameserver_up``: any answer proves the server is alive."""
        ns.timedout = 0
        if ns.good:
            return
        _log(False, f"nameserver {ns.addr[0]}:{ns.addr[1]} is back up")
        ns.good = True
        ns.failed_times = 0
        ns.probe_pending = False
        ns.probe_timer.delete()
        probe = ns.probe_req
        if probe is not None:
            ns.probe_req = None
            self._discard(probe)
        self._good += 1

    def _on_probe_timer(self, _fd: int, _what: int, ns: _Nameserver) -> None:
        if self._freed or ns.good or ns.probe_req is not None:
            return
        req = DnsRequest(self, TYPE_A, DNS_IPv4_A, [_PROBE_NAME], _NO_SEARCH, self._probe_done, ns)
        req._probe = ns
        self._next_question(req, 0)
        ns.probe_req = req
        self._submit(req)

    def _probe_done(
        self, result: int, _type: int, _count: int, _ttl: int, _addrs: list[str], ns: _Nameserver
    ) -> None:
        if result == DNS_ERR_CANCEL or self._freed or ns not in self._servers:
            return
        ns.probe_req = None
        if result in (DNS_ERR_NONE, DNS_ERR_NOTEXIST):
            self._server_up(ns)
            return
        if ns.good:
            return
        opts = self._opts
        delay = config.probe_delay(
            opts.initial_probe_timeout, opts.backoff_factor, opts.max_probe_timeout, ns.failed_times
        )
        ns.failed_times += 1
        ns.probe_timer.add(delay)

    # -- replies -------------------------------------------------------------------------

    def _on_readable(self, _fd: int, _what: int, ns: _Nameserver) -> None:
        """Read datagrams until EAGAIN (``nameserver_read``)."""
        buf = self._buf
        recv_into = ns.recv_into
        handle = self._handle_packet
        while True:
            try:
                n = recv_into(buf)
            except BlockingIOError:
                return
            except InterruptedError:
                continue
            except OSError as exc:
                # ICMP errors surface here on a connected socket; the requests
                # sent there simply time out.
                if exc.errno == errno.EBADF:
                    return
                _log(False, f"error reading from {ns.addr[0]}: {exc}")
                continue
            ns.timedout = 0
            handle(buf, n, ns)
            if self._freed:
                return

    def _handle_packet(self, buf: bytes | bytearray, n: int, ns: _Nameserver) -> None:
        if n < 12:
            return
        req = self._by_id.get((buf[0] << 8) | buf[1])
        if req is None:
            return
        try:
            reply = read_reply(buf, n, req._question, self._opts.randomize_case, req._qtype)
        except WireError as exc:
            _log(True, f"dropping malformed reply from {ns.addr[0]}: {exc}")
            return
        if reply is None:
            _log(True, f"dropping reply from {ns.addr[0]} that does not match its question")
            return
        self._on_reply(req, reply, ns)

    def _on_reply(self, req: DnsRequest, reply: Reply, ns: _Nameserver) -> None:
        """``reply_handle``: act on an answer to ``req`` that came from ``ns``."""
        rcode = reply.rcode
        if reply.tc:
            if not (req._tcp or req._ignore_tc):
                self._server_up(ns)
                self._switch_to_tcp(req)
                return
            error = DNS_ERR_TRUNCATED
        elif rcode == 0:
            if reply.addresses:
                self._server_up(ns)
                self._complete(req, DNS_ERR_NONE, reply.addresses, reply.ttl, reply.cname)
                return
            if reply.bogus:
                _log(True, f"dropping reply from {ns.addr[0]} with no usable answer")
                return
            error = DNS_ERR_NODATA
        elif rcode == 2:
            self._retry_elsewhere(req)
            return
        else:
            error = _ERR_BY_RCODE.get(rcode, DNS_ERR_UNKNOWN)
        if error in (DNS_ERR_NOTIMPL, DNS_ERR_REFUSED):
            if req._reissues < self._opts.max_reissues:
                self._server_failed(ns, f"bad response {int(error)}")
                new = req._probe or self._pick()
                if new is not None and new is not ns:
                    req._reissues += 1
                    req._tx = 0
                    self._move(req, new)
                    self._transmit(req)
                    return
        else:
            self._server_up(ns)
        if req._qtype != TYPE_PTR and self._next_question(req, req._index + 1):
            self._restart(req)
            return
        self._complete(req, error, ttl=reply.ttl)

    def _retry_elsewhere(self, req: DnsRequest) -> None:
        """SERVFAIL: resend to the next server now, or fail once the attempts are used."""
        if req._tx >= self._max_tx(req):
            self._complete(req, DNS_ERR_SERVERFAILED)
            return
        self._move(req, req._probe or self._pick())
        self._transmit(req)

    def _switch_to_tcp(self, req: DnsRequest) -> None:
        """A truncated UDP answer: ask the same server again over TCP, with a new id."""
        del self._by_id[req._txid]
        req._tcp = True
        req._tx = 0
        self._assign_id(req)
        self._transmit(req)

    def _restart(self, req: DnsRequest) -> None:
        """Ask the next search name: new id and packet, fresh attempts, next server."""
        del self._by_id[req._txid]
        req._tx = req._reissues = 0
        self._move(req, req._probe or self._pick())
        self._assign_id(req)
        self._transmit(req)

    # -- finishing and delivering callbacks ------------------------------------------------

    def _unlink_inflight(self, req: DnsRequest) -> None:
        if req._state == _INFLIGHT:
            self._by_id.pop(req._txid, None)
            self._n_inflight -= 1
            self._detach(req)
        elif req._state == _WAITING:
            with contextlib.suppress(ValueError):
                self._waiting.remove(req)

    def _finish(self, req: DnsRequest) -> None:
        was_inflight = req._state == _INFLIGHT
        self._unlink_inflight(req)
        req._state = _DONE
        if was_inflight and not self._freed:
            if self._waiting:
                self._pump()
            if not self._n_inflight:
                self._stop_sweep()

    def _discard(self, req: DnsRequest) -> None:
        """Finish without a callback (a probe no longer needed, or free without fail)."""
        if req._state != _DONE:
            self._finish(req)
        req._cb = None
        req._arg = None

    def _complete(
        self,
        req: DnsRequest,
        result: int,
        addresses: list[str] | None = None,
        ttl: int = 0,
        cname: str | None = None,
    ) -> None:
        self._finish(req)
        req._result = result
        req._ttl = ttl
        req._addresses = addresses if addresses is not None else []
        req._cname = cname
        self._done.append(req)
        if len(self._done) == 1:
            self._deliver.schedule()

    def _deliver_callbacks(self) -> None:
        """Run the callbacks of finished requests; only those finished before this
        batch began, so a callback that starts lookups cannot starve the loop."""
        batch = self._done
        self._done = deque()
        report = self._base._report
        for req in batch:
            cb = req._cb
            if cb is None:
                continue
            req._cb = None
            arg = req._arg
            req._arg = None
            result = req._result
            addresses = req._addresses
            try:
                if result == DNS_ERR_NONE:
                    cb(result, req._kind, len(addresses), req._ttl, addresses, arg)
                else:
                    cb(result, 0, 0, req._ttl, addresses, arg)
            except Exception as exc:
                report(req, exc)
            cname = req._cname
            if cname is not None and req._need_cname and result == DNS_ERR_NONE:
                try:
                    cb(DNS_ERR_NONE, DNS_CNAME, 1, req._ttl, [cname], arg)
                except Exception as exc:
                    report(req, exc)

    # -- TCP -------------------------------------------------------------------------------

    def _tcp_send(self, ns: _Nameserver, req: DnsRequest) -> None:
        conn = ns.tcp
        if conn is None:
            bev = SocketBufferEvent(self._base, None, BEV_OPT.CLOSE_ON_FREE)
            conn = _TcpConn(bev, ns)
            idle = self._opts.tcp_idle_timeout
            bev.set_timeouts(idle, idle)
            bev.setcb(self._tcp_readable, None, self._tcp_event, conn)
            try:
                bev.connect(ns.addr)
            except OSError as exc:
                _log(True, f"cannot connect to {ns.addr[0]} over TCP: {exc}")
                bev.free()
                return
            bev.enable(_READ)
            ns.tcp = conn
        packet = req._packet
        conn.bev.write(struct.pack("!H", len(packet)) + packet)

    def _tcp_readable(self, bev: BufferEvent, conn: _TcpConn) -> None:
        """Length-prefixed replies, as many as have arrived (``client_tcp_read_packet_cb``)."""
        source = bev.input
        ns = conn.ns
        while ns.tcp is conn:
            if not conn.need:
                if len(source) < 2:
                    return
                size = bev.read(2)
                conn.need = (size[0] << 8) | size[1]
                if conn.need < 12:
                    self._tcp_close(ns)
                    return
            if len(source) < conn.need:
                return
            msg = bev.read(conn.need)
            conn.need = 0
            ns.timedout = 0
            self._handle_packet(msg, len(msg), ns)

    def _tcp_event(self, _bev: BufferEvent, events: int, conn: _TcpConn) -> None:
        if events & _TCP_CLOSING and conn.ns.tcp is conn:
            self._tcp_close(conn.ns)

    def _tcp_close(self, ns: _Nameserver) -> None:
        conn = ns.tcp
        if conn is not None:
            ns.tcp = None
            conn.bev.free()


_TIMEOUT_FLAG: Final = int(EV.TIMEOUT)
