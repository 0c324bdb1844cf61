"""Asynchronous getaddrinfo on a DnsBase (``evdns_getaddrinfo``).

What can be answered without the network is answered before the call
returns (the callback runs first, the call returns None): numeric hosts, no
host at all, hosts-file names, cache hits and argument errors. Otherwise an
A and/or an AAAA lookup starts and a :class:`GetAddrInfoRequest` is returned;
for ``AF_UNSPEC`` both run in parallel and, once one answers, the other gets
``getaddrinfo-allow-skew`` seconds more before the answer goes out without
it. Results are ``socket.getaddrinfo``-style tuples; errors are the
platform's ``socket.EAI_*`` values plus ``EVUTIL_EAI_CANCEL``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..event import Event
from .cache import AddrInfo
from .constants import (
    DNS_ERR_CANCEL,
    DNS_ERR_NODATA,
    DNS_ERR_NONE,
    DNS_ERR_NOTEXIST,
    DNS_ERR_SHUTDOWN,
    EVUTIL_EAI_CANCEL,
)

if TYPE_CHECKING:
    from .resolver import DnsBase, DnsRequest

__all__ = ["AddrInfoHints", "GetAddrInfoCallback", "GetAddrInfoRequest", "expand", "getaddrinfo"]

#: ``cb(err, results, arg)``: ``err`` 0 or a ``socket.EAI_*`` / ``EVUTIL_EAI_CANCEL``.
GetAddrInfoCallback = Callable[[int, list[AddrInfo], Any], object]

_AF_UNSPEC: Final = int(socket.AF_UNSPEC)
_AF_INET: Final = int(socket.AF_INET)
_AF_INET6: Final = int(socket.AF_INET6)
_STREAM: Final = int(socket.SOCK_STREAM)
_DGRAM: Final = int(socket.SOCK_DGRAM)
_TCP: Final = int(socket.IPPROTO_TCP)
_UDP: Final = int(socket.IPPROTO_UDP)
EAI_NONAME: Final = int(socket.EAI_NONAME)
EAI_FAIL: Final = int(socket.EAI_FAIL)
EAI_FAMILY: Final = int(socket.EAI_FAMILY)
EAI_AGAIN: Final = int(socket.EAI_AGAIN)
EAI_NODATA: Final = int(getattr(socket, "EAI_NODATA", socket.EAI_NONAME))
_NEED_RESOLVE: Final = -90002  # libevent's EVUTIL_EAI_NEED_RESOLVE, never reported
_PORT_RE: Final = re.compile(r"[ \t\n\v\f\r]*\+?[0-9]+")


@dataclass(frozen=True, slots=True)
class AddrInfoHints:
    """The ``hints`` of a lookup (the fields of ``struct evutil_addrinfo`` that matter).

    ``flags`` are ``socket.AI_*`` values: PASSIVE, CANONNAME, NUMERICHOST, NUMERICSERV.
    """

    family: int = 0
    socktype: int = 0
    protocol: int = 0
    flags: int = 0


def _socktypes(hints: AddrInfoHints) -> list[tuple[int, int]]:
    """The (socktype, protocol) pairs each address yields (``evutil_new_addrinfo_``)."""
    socktype, protocol = hints.socktype, hints.protocol
    if socktype == 0 and protocol == 0:
        return [(_STREAM, _TCP), (_DGRAM, _UDP)]
    # evutil_getaddrinfo_infer_protocols: fill in the half that follows from the other.
    if protocol == 0:
        protocol = _TCP if socktype == _STREAM else _UDP if socktype == _DGRAM else 0
    elif socktype == 0:
        socktype = _STREAM if protocol == _TCP else _DGRAM if protocol == _UDP else 0
    return [(socktype, protocol)]


def expand(
    addresses: list[tuple[int, str]], hints: AddrInfoHints, port: int, canonname: str
) -> list[AddrInfo]:
    """``(family, host)`` pairs → result tuples for ``hints``; the first carries ``canonname``."""
    out: list[AddrInfo] = []
    kinds = _socktypes(hints)
    for family, host in addresses:
        sockaddr: tuple[str, int] | tuple[str, int, int, int]
        if family == _AF_INET6:
            address, _, scope = host.partition("%")
            sockaddr = (address, port, 0, int(scope) if scope.isdigit() else 0)
        else:
            sockaddr = (host, port)
        for socktype, protocol in kinds:
            out.append((family, socktype, protocol, "" if out else canonname, sockaddr))
    return out


def _parse_servname(servname: str, protocol: int, flags: int) -> int:
    """A port number or service name (``evutil_parse_servname``); -1 if neither."""
    if _PORT_RE.fullmatch(servname) and int(servname) <= 65535:
        return int(servname)
    if not flags & socket.AI_NUMERICSERV:
        proto = "tcp" if protocol == _TCP else "udp" if protocol == _UDP else None
        try:
            if proto is None:
                return socket.getservbyname(servname)
            return socket.getservbyname(servname, proto)
        except OSError:
            pass
    return -1


def _numeric_v6(nodename: str) -> str | None:
    address, _, scope = nodename.partition("%")
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return None
    if scope and not scope.isdigit():
        try:
            scope = str(socket.if_nametoindex(scope))
        except OSError:
            return None
    return f"{address}%{scope}" if scope else address


def _numeric_v4(nodename: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET, nodename)
    except OSError:
        return False
    return True


def resolve_locally(
    nodename: str | None, servname: str | None, hints: AddrInfoHints
) -> tuple[int, list[AddrInfo], int]:
    """``evutil_getaddrinfo_common_``: ``(err, results, port)`` without any lookup.

    ``err`` is ``_NEED_RESOLVE`` when the name needs DNS.
    """
    if nodename is None and servname is None:
        return EAI_NONAME, [], 0
    family = hints.family
    if family not in (_AF_UNSPEC, _AF_INET, _AF_INET6):
        return EAI_FAMILY, [], 0
    port = 0
    if servname is not None:
        protocol = _socktypes(hints)[0][1] if hints.socktype or hints.protocol else 0
        port = _parse_servname(servname, protocol, hints.flags)
        if port < 0:
            return EAI_NONAME, [], 0
    if nodename is None:
        passive = bool(hints.flags & socket.AI_PASSIVE)
        found: list[tuple[int, str]] = []
        if family != _AF_INET6:
            found.append((_AF_INET, "0.0.0.0" if passive else "127.0.0.1"))
        if family != _AF_INET:
            found.append((_AF_INET6, "::" if passive else "::1"))
        return 0, expand(found, hints, port, ""), port
    if family in (_AF_UNSPEC, _AF_INET6):
        v6 = _numeric_v6(nodename)
        if v6 is not None:
            return 0, expand([(_AF_INET6, v6)], hints, port, ""), port
    if family in (_AF_UNSPEC, _AF_INET) and _numeric_v4(nodename):
        return 0, expand([(_AF_INET, nodename)], hints, port, ""), port
    if hints.flags & socket.AI_NUMERICHOST:
        return EAI_NONAME, [], port
    return _NEED_RESOLVE, [], port


def _dns_to_eai(result: int) -> int:
    """``evdns_err_to_getaddrinfo_err``."""
    if result == DNS_ERR_NONE:
        return 0
    if result == DNS_ERR_NOTEXIST:
        return EAI_NONAME
    return EAI_FAIL


class GetAddrInfoRequest:
    """An outstanding ``getaddrinfo`` (``struct evdns_getaddrinfo_request``)."""

    __slots__ = (
        "_arg",
        "_cb",
        "_cname",
        "_definitive",
        "_dns",
        "_hints",
        "_nodename",
        "_pending_error",
        "_pending_result",
        "_port",
        "_timer",
        "_ttl",
        "_user_canceled",
        "_v4",
        "_v6",
    )

    def __init__(
        self,
        dns: DnsBase,
        nodename: str,
        hints: AddrInfoHints,
        port: int,
        cb: GetAddrInfoCallback,
        arg: Any,
    ) -> None:
        self._dns = dns
        self._nodename = nodename
        self._hints = hints
        self._port = port
        self._cb: GetAddrInfoCallback | None = cb
        self._arg = arg
        self._v4: DnsRequest | None = None
        self._v6: DnsRequest | None = None
        self._pending_result: list[AddrInfo] | None = None
        self._pending_error = 0
        self._timer: Event | None = None
        self._user_canceled = False
        self._cname: str | None = None
        self._ttl = -1
        # Families whose lookup gave a definite answer (addresses, or none exist).
        self._definitive: set[int] = set()

    def cancel(self) -> None:
        """Cancel (``evdns_getaddrinfo_cancel``): the callback gets ``EVUTIL_EAI_CANCEL``.

        A no-op once the callback has run or been queued.
        """
        if self._cb is None or self._user_canceled:
            return
        if self._timer is not None:
            self._timer.delete()
        self._user_canceled = True
        pending = [r for r in (self._v4, self._v6) if r is not None]
        for req in pending:
            req.cancel()

    def _got_v4(
        self, result: int, kind: int, count: int, ttl: int, addrs: list[str], _arg: object
    ) -> None:
        self._got(_AF_INET, result, count, ttl, addrs)

    def _got_v6(
        self, result: int, kind: int, count: int, ttl: int, addrs: list[str], _arg: object
    ) -> None:
        self._got(_AF_INET6, result, count, ttl, addrs)

    def _got(self, family: int, result: int, count: int, ttl: int, addrs: list[str]) -> None:
        """``evdns_getaddrinfo_gotresolve``: one of the (up to) two lookups finished."""
        if family == _AF_INET:
            req, self._v4, other = self._v4, None, self._v6
        else:
            req, self._v6, other = self._v6, None, self._v4
        if result == DNS_ERR_CANCEL and not self._user_canceled:
            return  # our own cancel after the skew timeout: the user has the answer
        if self._cb is None:
            return
        if req is not None and req._cname and self._cname is None:
            self._cname = req._cname
        err = (0 if count else EAI_NODATA) if result == DNS_ERR_NONE else _dns_to_eai(result)
        if result in (DNS_ERR_NONE, DNS_ERR_NODATA):
            self._definitive.add(family)
        if err:
            if other is not None:
                if result != DNS_ERR_SHUTDOWN:
                    self._arm_skew()
                self._pending_error = err
                return
            if self._user_canceled:
                self._answer(EVUTIL_EAI_CANCEL, [])
            elif self._pending_result is not None:
                self._answer(0, self._pending_result)
            else:
                self._answer(err or self._pending_error, [])
            return
        if self._user_canceled:
            if other is None:
                self._answer(EVUTIL_EAI_CANCEL, [])
            return
        self._ttl = ttl if self._ttl < 0 else min(ttl, self._ttl)
        results = expand([(family, a) for a in addrs], self._hints, self._port, "")
        if other is not None:
            self._arm_skew()
            self._pending_result = results
            return
        pending = self._pending_result
        if pending:
            results = results + pending if family == _AF_INET else pending + results
        self._store(results)
        self._answer(0, results)

    def _arm_skew(self) -> None:
        if self._timer is None:
            self._timer = Event.timer(self._dns.base, self._on_skew)
        self._timer.add(self._dns._opts.getaddrinfo_skew)

    def _on_skew(self, _fd: int, _what: int, _arg: object) -> None:
        """The second lookup took too long: answer with what the first gave."""
        for req in (self._v4, self._v6):
            if req is not None:
                req.cancel()
        if self._pending_result is not None:
            self._answer(0, self._pending_result)
        else:
            self._answer(self._pending_error or EAI_AGAIN, [])

    def _store(self, results: list[AddrInfo]) -> None:
        cache = self._dns._cache
        family = self._hints.family
        asked = {_AF_INET, _AF_INET6} if family == _AF_UNSPEC else {family}
        if cache is None or not results or self._ttl <= 0 or not asked <= self._definitive:
            return
        cache.write(self._nodename, [(r[0], r[4][0]) for r in results], self._ttl, frozenset(asked))

    def _answer(self, err: int, results: list[AddrInfo]) -> None:
        cb = self._cb
        if cb is None:
            return
        self._cb = None
        if self._timer is not None:
            self._timer.delete()
        if results and self._cname and self._hints.flags & socket.AI_CANONNAME:
            first = results[0]
            results = [(first[0], first[1], first[2], self._cname, first[4]), *results[1:]]
        arg, self._arg = self._arg, None
        cb(err, results, arg)

    def __repr__(self) -> str:
        state = "done" if self._cb is None else "pending"
        return f"<GetAddrInfoRequest {self._nodename!r} {state}>"


def getaddrinfo(
    dns: DnsBase,
    nodename: str | None,
    servname: str | None,
    hints: AddrInfoHints | None,
    cb: GetAddrInfoCallback,
    arg: Any = None,
) -> GetAddrInfoRequest | None:
    """``evdns_getaddrinfo``: ``cb(err, results, arg)``; None when already answered."""
    dns._check()
    h = hints if hints is not None else AddrInfoHints()
    err, results, port = resolve_locally(nodename, servname, h)
    if err != _NEED_RESOLVE:
        cb(err, results, arg)
        return None
    assert nodename is not None
    entries = dns._hosts_lookup(nodename)
    if entries is not None:
        # Entries of another family still count: the answer is then empty.
        usable = [e for e in entries if h.family == _AF_UNSPEC or e[0] == h.family]
        cb(0, expand(usable, h, port, ""), arg)
        return None
    cache = dns._cache
    if cache is not None:
        found = cache.lookup(nodename, h.family)
        if found is not None:
            cb(0, expand(found, h, port, ""), arg)
            return None
    req = GetAddrInfoRequest(dns, nodename, h, port, cb, arg)
    flags = 0
    try:
        if h.family != _AF_INET6:
            req._v4 = dns.resolve_ipv4(nodename, flags, req._got_v4)
        if h.family != _AF_INET:
            req._v6 = dns.resolve_ipv6(nodename, flags, req._got_v6)
    except ValueError:
        pass
    if req._v4 is None and req._v6 is None:
        cb(EAI_FAIL, [], arg)
        return None
    return req
