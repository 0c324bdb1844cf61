"""levent dns: resolve names with levent's evdns, or run a toy DNS server (libevent's dns-example).

``levent dns [-x] [-v] [-g] [-t A|AAAA] [-T] [-c resolv.conf] [--nameserver ADDR[:PORT]]
[--timeout SEC] [--attempts N] [-s IP:PORT] [NAME ...]``

How it maps to ``sample/dns-example.c``:

* ``main_callback`` is :func:`print_answer`: each answer is printed as
  ``NAME: ADDRESS`` (``NAME: TARGET (CNAME)`` for a CNAME), a failed lookup as
  ``NAME: No answer (ERROR TEXT, CODE)``. ``resolving (fwd) NAME...`` goes to
  stderr, as in C.
* ``-x``: reverse lookups (``evdns_base_resolve_reverse``) of IPv4 addresses,
  and of IPv6 ones too (``..._reverse_ipv6``, a levent extra); a non-address
  is skipped with ``Skipping non-IP``, as in C (it counts as a failure here).
* ``-g``: ``evdns_getaddrinfo`` with ``PF_UNSPEC``, ``IPPROTO_TCP`` and
  ``AI_CANONNAME``, printed like ``gai_callback``: ``[i] NAME: ADDRESS``.
* ``-t A`` (the default) or ``-t AAAA``: ``evdns_base_resolve_ipv4`` /
  ``_ipv6`` with ``DNS_CNAME_CALLBACK``. levent's resolver has no NS, SOA or
  MX lookups, so C's ``-t NS|SOA|MX`` are refused.
* ``-c FILE``: nameservers and options from a resolv.conf
  (``evdns_base_resolv_conf_parse(DNS_OPTIONS_ALL)``); ``--nameserver`` (C's
  ``-s ns``, renamed here) adds one ``ADDR[:PORT]`` (``nameserver_ip_add``,
  repeatable); with neither, the system's resolv.conf is read
  (``EVDNS_BASE_INITIALIZE_NAMESERVERS``). ``--timeout`` and ``--attempts``
  set the resolver options of those names.
* ``-T``: every query goes over TCP (``DNS_QUERY_USEVC``). In C, ``-T`` starts
  the test server; here that is ``-s``.
* ``-s IP:PORT``: ``evdns_server_callback``'s server, on UDP (C's fixed
  ``0.0.0.0:10053``) and, on the same port, TCP (2.2's
  ``evdns_add_server_port_with_listener``). Every A question gets
  192.168.11.11, every AAAA question 2001:db8::c0a8:b0b and every PTR question
  foo.bar.example.com (TTL 10), with `` -- replying for NAME (TYPE)`` on
  stdout; anything else is skipped (`` -- skipping NAME [TYPE CLASS]``) and
  the reply carries no answer. Port 0 picks a free port; the first line on
  stdout is ``Listening on IP:PORT``, and the server runs until SIGINT or
  SIGTERM (names given too are resolved meanwhile).
* ``-v``: the resolver's informational messages on stderr too
  (``evdns_set_log_fn(logfn)``; warnings are always shown).

C's debugging line ``EVUTIL_AI_CANONNAME in example = N`` is not printed.
Exit status (resolver mode): 0 when every name resolved, 1 when any did not or
the nameservers could not be configured; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any, Final

from levent import LEV_OPT_CLOSE_ON_FREE, LEV_OPT_REUSEABLE, Event, EventBase, Listener
from levent.dns import (
    DNS_CNAME,
    DNS_CNAME_CALLBACK,
    DNS_ERR_NONE,
    DNS_OPTIONS_ALL,
    DNS_PTR,
    DNS_QUERY_USEVC,
    EVDNS_BASE_DISABLE_WHEN_INACTIVE,
    EVDNS_BASE_INITIALIZE_NAMESERVERS,
    EVDNS_CLASS_INET,
    EVDNS_TYPE_A,
    EVDNS_TYPE_AAAA,
    EVDNS_TYPE_PTR,
    AddrInfo,
    AddrInfoHints,
    DNS_IPv4_A,
    DNS_IPv6_AAAA,
    DnsBase,
    DnsServerPort,
    ServerRequest,
    set_log_fn,
)
from levent.dns.constants import EVDNS_ERROR, err_to_string
from levent.samples import Sample

__all__ = ["SAMPLE", "ToyServer", "main", "print_answer", "server_callback"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2

#: The toy server's answers (``evdns_server_callback``).
A_ANSWER: Final = "192.168.11.11"
AAAA_ANSWER: Final = "2001:db8::c0a8:b0b"
PTR_ANSWER: Final = "foo.bar.example.com"
ANSWER_TTL: Final = 10

_PROG: Final = "dns"
_BIND_TRIES: Final = 20
_GAI_ERRORS: Final = {
    int(socket.EAI_NONAME): "nodename nor servname provided, or not known",
    int(socket.EAI_AGAIN): "temporary failure in name resolution",
    int(socket.EAI_FAIL): "non-recoverable failure in name resolution",
    int(socket.EAI_FAMILY): "ai_family not supported",
    int(socket.EAI_SERVICE): "servname not supported for ai_socktype",
}


class UsageError(Exception):
    """The command line cannot be acted on (exit status 2)."""


def parse_ip_port(text: str) -> tuple[str, int]:
    """``IP:PORT`` or ``[IPv6]:PORT`` (port 0 allowed: pick one) to ``(ip, port)``."""
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise UsageError(f"bad address {text!r}: want [IPv6]:PORT")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or ":" in host:
            raise UsageError(f"bad address {text!r}: want IP:PORT or [IPv6]:PORT")
    try:
        ipaddress.ip_address(host)
        port = int(port_text, 10)
    except ValueError:
        raise UsageError(f"bad address {text!r}: want a numeric IP and port") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"port out of range in {text!r}")
    return host, port


# -- the resolver half -----------------------------------------------------------------


class Lookups:
    """The outstanding lookups: counts them down and stops the loop at the last one."""

    __slots__ = ("base", "failed", "pending", "stop_when_done")

    def __init__(self, base: EventBase, stop_when_done: bool) -> None:
        self.base = base
        self.pending = 0
        self.failed = 0
        self.stop_when_done = stop_when_done

    def started(self) -> None:
        self.pending += 1

    def finished(self, ok: bool) -> None:
        self.pending -= 1
        if not ok:
            self.failed += 1
        if self.pending == 0 and self.stop_when_done:
            self.base.loopbreak()


def print_answer(
    result: int, kind: int, count: int, ttl: int, addrs: list[str], arg: tuple[str, Lookups]
) -> None:
    """``main_callback``: one line per answer, or why there is none."""
    name, lookups = arg
    if kind == DNS_CNAME:  # an extra call after the answers (DNS_CNAME_CALLBACK)
        print(f"{name}: {addrs[0]} (CNAME)", flush=True)
        return
    for addr in addrs[:count]:
        if kind in (DNS_IPv4_A, DNS_IPv6_AAAA, DNS_PTR):
            print(f"{name}: {addr}")
        else:
            print(f"Unknown type: {kind}")
    if not count:
        print(f"{name}: No answer ({err_to_string(result)}, {result})")
    sys.stdout.flush()
    lookups.finished(result == DNS_ERR_NONE and count > 0)


def print_addrinfo(err: int, ais: list[AddrInfo], arg: tuple[str, Lookups]) -> None:
    """``gai_callback``: ``[i] NAME: ADDRESS`` for each address found."""
    name, lookups = arg
    if err:
        print(f"{name}: {_GAI_ERRORS.get(err, f'getaddrinfo error {err}')}")
    if ais and ais[0][3]:
        print(f"    {name} ==> {ais[0][3]}")
    for i, ai in enumerate(ais):
        print(f"[{i}] {name}: {ai[4][0]}")
    sys.stdout.flush()
    lookups.finished(not err and bool(ais))


def start_lookups(dns: DnsBase, args: argparse.Namespace, lookups: Lookups) -> None:
    """Queue one lookup per name, as ``main``'s loop over ``argv`` does."""
    flags = int(DNS_QUERY_USEVC) if args.tcp else 0
    for name in args.names:
        arg = (name, lookups)
        if args.reverse:
            try:
                ip = ipaddress.ip_address(name)
            except ValueError:
                print(f"Skipping non-IP {name}", file=sys.stderr)
                lookups.failed += 1
                continue
            print(f"resolving {name}...", file=sys.stderr)
            lookups.started()
            if ip.version == 4:
                dns.resolve_reverse(name, flags, print_answer, arg)
            else:
                dns.resolve_reverse_ipv6(name, flags, print_answer, arg)
        elif args.use_getaddrinfo:
            hints = AddrInfoHints(
                family=socket.AF_UNSPEC, protocol=socket.IPPROTO_TCP, flags=socket.AI_CANONNAME
            )
            print(f"resolving (fwd) {name}...", file=sys.stderr)
            lookups.started()
            dns.getaddrinfo(name, None, hints, print_addrinfo, arg)
        else:
            print(f"resolving (fwd) {name}...", file=sys.stderr)
            lookups.started()
            qflags = flags | int(DNS_CNAME_CALLBACK)
            if args.type == "AAAA":
                dns.resolve_ipv6(name, qflags, print_answer, arg)
            else:
                dns.resolve_ipv4(name, qflags, print_answer, arg)


def configure_nameservers(dns: DnsBase, args: argparse.Namespace) -> str | None:
    """``-c`` and ``--nameserver``; None, or why the nameservers could not be set."""
    if args.resolv_conf is not None:
        err = dns.resolv_conf_parse(int(DNS_OPTIONS_ALL), args.resolv_conf)
        if err != EVDNS_ERROR.NONE:
            return f"cannot use {args.resolv_conf}: {err.name.lower().replace('_', ' ')}"
    for ns in args.nameservers:
        try:
            dns.nameserver_ip_add(ns)
        except ValueError as exc:
            return f"bad nameserver {ns!r}: {exc}"
    try:
        if args.timeout is not None:
            dns.set_option("timeout:", str(args.timeout))
        if args.attempts is not None:
            dns.set_option("attempts:", str(args.attempts))
    except ValueError as exc:
        return str(exc)
    if dns.count_nameservers() == 0:
        return "no nameservers configured"
    return None


# -- the server half -------------------------------------------------------------------------


def server_callback(req: ServerRequest, arg: Any) -> None:
    """``evdns_server_callback``: fixed answers for A, AAAA and PTR questions."""
    for q in req.questions:
        try:
            if q.dns_question_class != EVDNS_CLASS_INET:
                print(f" -- skipping {q.name} [{q.type} {q.dns_question_class}]")
            elif q.type == EVDNS_TYPE_A:
                print(f" -- replying for {q.name} (A)")
                req.add_a_reply(q.name, A_ANSWER, ANSWER_TTL)
            elif q.type == EVDNS_TYPE_AAAA:
                print(f" -- replying for {q.name} (AAAA)")
                req.add_aaaa_reply(q.name, AAAA_ANSWER, ANSWER_TTL)
            elif q.type == EVDNS_TYPE_PTR:
                print(f" -- replying for {q.name} (PTR)")
                req.add_ptr_reply(None, q.name, PTR_ANSWER, ANSWER_TTL)
            else:
                print(f" -- skipping {q.name} [{q.type} {q.dns_question_class}]")
        except (ValueError, OverflowError) as exc:
            print(f"eeep, reply for {q.name} didn't work: {exc}")
    sys.stdout.flush()
    req.respond(0)


class ToyServer:
    """The UDP port and the TCP port (same number) of ``-s``."""

    __slots__ = ("address", "ports")

    def __init__(self, base: EventBase, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        last: OSError | None = None
        for _ in range(_BIND_TRIES if port == 0 else 1):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                udp.bind((host, port))
                bound = udp.getsockname()[1]
                listener = Listener(
                    base, None, None, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE, 16,
                    address=(host, bound),
                )  # fmt: skip
            except OSError as exc:
                udp.close()
                last = exc
                if exc.errno != errno.EADDRINUSE:
                    break
                continue
            self.address = (host, int(bound))
            self.ports = [
                DnsServerPort(base, udp, 0, server_callback),
                DnsServerPort.with_listener(base, listener, 0, server_callback),
            ]
            return
        assert last is not None
        raise last

    def close(self) -> None:
        for port in self.ports:
            port.close()


def _signal_cb(fd: int, event: int, base: EventBase) -> None:
    print(f"Caught signal {fd}; exiting cleanly.", flush=True)
    base.loopexit()


# -- the program -----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """dns-example's options (see the module docstring for the C mapping)."""
    parser.add_argument("names", nargs="*", metavar="NAME", help="names (or, -x, addresses)")
    parser.add_argument("-x", dest="reverse", action="store_true", help="reverse (PTR) lookups")
    parser.add_argument("-v", dest="verbose", action="count", default=0, help="resolver log")
    parser.add_argument("-g", dest="use_getaddrinfo", action="store_true",
                        help="use getaddrinfo (A and AAAA)")  # fmt: skip
    parser.add_argument("-t", dest="type", type=str.upper, default="A",
                        help="record type to ask for: A (default) or AAAA")  # fmt: skip
    parser.add_argument("-T", dest="tcp", action="store_true", help="query over TCP (USEVC)")
    parser.add_argument("-c", dest="resolv_conf", metavar="RESOLV_CONF",
                        help="take nameservers and options from this resolv.conf")  # fmt: skip
    parser.add_argument("--nameserver", dest="nameservers", action="append", default=[],
                        metavar="ADDR[:PORT]", help="ask this nameserver (repeatable)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=None, help="per-try timeout, seconds")
    parser.add_argument("--attempts", type=int, default=None, help="tries per nameserver")
    parser.add_argument("-s", dest="serve", metavar="IP:PORT",
                        help="run the toy DNS server here (UDP and TCP; port 0: any)")  # fmt: skip


def _check(args: argparse.Namespace) -> tuple[str, int] | None:
    if args.type not in ("A", "AAAA"):
        raise UsageError(f"unsupported -t {args.type}: levent resolves A, AAAA and PTR only")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError("--timeout must be positive")
    if args.attempts is not None and args.attempts < 1:
        raise UsageError("--attempts must be 1 or more")
    if args.serve is None and not args.names:
        raise UsageError("give a NAME to resolve, or -s IP:PORT to serve")
    return None if args.serve is None else parse_ip_port(args.serve)


def run(args: argparse.Namespace) -> int:
    """Serve, resolve, or both; the exit status says whether every name resolved."""
    try:
        serve_at = _check(args)
    except UsageError as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    verbose = args.verbose

    def logfn(is_warn: bool, msg: str) -> None:
        if is_warn or verbose:
            print(f"{'WARN' if is_warn else 'INFO'}: {msg}", file=sys.stderr)

    set_log_fn(logfn)
    try:
        with EventBase() as base:
            return _run_on(base, args, serve_at)
    finally:
        set_log_fn(None)


def _run_on(base: EventBase, args: argparse.Namespace, serve_at: tuple[str, int] | None) -> int:
    server: ToyServer | None = None
    signals: list[Event] = []
    if serve_at is not None:
        try:
            server = ToyServer(base, *serve_at)
        except OSError as exc:
            print(f"{_PROG}: cannot serve on {args.serve}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_FAILED
        signals = [
            Event.signal(base, signal.SIGINT, _signal_cb, base),
            Event.signal(base, signal.SIGTERM, _signal_cb, base),
        ]
        for ev in signals:
            ev.add()
        host, port = server.address
        shown = f"[{host}]" if ":" in host else host
        print(f"Listening on {shown}:{port}", flush=True)

    lookups = Lookups(base, stop_when_done=server is None)
    dns: DnsBase | None = None
    status = EXIT_OK
    try:
        if args.names:
            use_system = args.resolv_conf is None and not args.nameservers
            flags = int(EVDNS_BASE_DISABLE_WHEN_INACTIVE)
            if use_system:
                flags |= int(EVDNS_BASE_INITIALIZE_NAMESERVERS)
            dns = DnsBase(base, flags)
            problem = configure_nameservers(dns, args)
            if problem is not None:
                print(f"{_PROG}: Couldn't configure nameservers: {problem}", file=sys.stderr)
                return EXIT_FAILED
            start_lookups(dns, args, lookups)
        if server is not None or lookups.pending:
            base.dispatch()
        if lookups.failed or lookups.pending:
            status = EXIT_FAILED
    finally:
        if dns is not None:
            dns.free(True)
        if server is not None:
            server.close()
        for ev in signals:
            ev.free()
    return status


SAMPLE = Sample(
    name="dns",
    summary="resolve names with evdns, or run a toy DNS server (dns-example)",
    add_arguments=add_arguments,
    run=run,
    description=__doc__ or "",
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m levent.samples.dns [options] [NAME ...]``."""
    return SAMPLE.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
