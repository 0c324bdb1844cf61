"""DnsServerPort: the server half of libevent's evdns — answer DNS queries on the loop.

A :class:`DnsServerPort` (``struct evdns_server_port``) reads queries from a
bound datagram socket (``evdns_add_server_port_with_base``) or from the
connections of a levent :class:`~levent.listener.Listener` (libevent 2.2's
``evdns_add_server_port_with_listener``: two-byte length-prefixed messages,
pipelined), and hands each one to ``cb(request, arg)`` as a
:class:`ServerRequest` (``struct evdns_server_request``). That callback, or any
later one (a timer, another request's answer), adds records and calls
``respond(rcode)`` or ``drop()``.

The wire format is kept apart from the I/O (STYLE.md §3): ``parse_query`` turns
a message into a request's parts or says why it cannot, ``render_reply`` turns
a request into a compressed, size-limited reply; both are plain functions over
bytes, internal to this module. Names are read by hand on the
hot path, where they are plain labels in nearly every query (dnspython's
``dns.name.from_wire`` costs about 10 µs a name, most of a query's budget);
compressed names go through the resolver's reader (``wire.read_labels``).
Presentation-format escapes, IDNA and text-to-wire conversion are dnspython's.

Where levent departs from evdns.c (each is said again where it happens, and in
``docs/libevent-mapping.md``):

* a query whose header is readable but whose body is not gets FORMERR (libevent
  drops it, and the client waits for its timeout); a message that is not a
  query at all (shorter than a header, or a response) is still dropped, so two
  servers can never answer each other's answers;
* truncation keeps whole records and fixes the counts (libevent cuts the reply
  at byte 512 mid-record, leaving counts that promise records that are not
  there), and keeps the OPT record;
* ``add_a_reply`` with several addresses writes one record per address
  (libevent writes one record with an 8, 12 … byte rdata no resolver accepts);
* a TCP connection gets the 10 s idle timeout libevent 2.2 defines but never
  applies (its ``with_listener`` port leaves the timeval zeroed: no timeout),
  and a connection waiting for the server's own answer is not idle;
* ``close()`` stops reading and accepting at once (libevent keeps reading until
  the last outstanding request is answered), and an answer for a TCP
  connection that has gone is discarded (libevent writes to freed memory);
* the requesting address of a TCP request is the peer's (libevent: empty).
"""

from __future__ import annotations

import collections
import contextlib
import ipaddress
import math
import re
import socket
import struct
import warnings
from bisect import bisect_right
from collections.abc import Callable, Iterable
from typing import Any, Final, NamedTuple

import dns.exception
import dns.name

from levent import log
from levent.base import EventBase
from levent.bufferevent import (
    BEV_EVENT_EOF,
    BEV_EVENT_ERROR,
    BEV_EVENT_READING,
    BEV_EVENT_TIMEOUT,
    BEV_OPT_CLOSE_ON_FREE,
    BEV_TRIG_DEFER_CALLBACKS,
    BufferEvent,
)
from levent.constants import EV_PERSIST, EV_READ, EV_WRITE
from levent.errors import BaseMismatchError, EventStateError
from levent.event import Event
from levent.listener import Listener

from .constants import (
    DNS_ERR_NOTIMPL,
    DNS_ERR_SERVERFAILED,
    EVDNS_ANSWER_SECTION,
    EVDNS_CLASS_INET,
    EVDNS_FLAGS_AA,
    EVDNS_FLAGS_RD,
    EVDNS_SOPT_TCP_IDLE_TIMEOUT,
    EVDNS_SOPT_TCP_MAX_CLIENTS,
    EVDNS_TYPE_A,
    EVDNS_TYPE_AAAA,
    EVDNS_TYPE_CNAME,
    EVDNS_TYPE_PTR,
)
from .wire import WireError, read_labels

__all__ = [
    "DEFAULT_TCP_IDLE_TIMEOUT",
    "DEFAULT_TCP_MAX_CLIENTS",
    "DnsServerPort",
    "RequestCallback",
    "ServerQuestion",
    "ServerRequest",
]

#: evdns.c's ``MAX_CLIENT_CONNECTIONS``: TCP clients a port serves at once.
DEFAULT_TCP_MAX_CLIENTS: Final = 10
#: evdns.c's ``SERVER_IDLE_CONN_TIMEOUT``, in seconds.
DEFAULT_TCP_IDLE_TIMEOUT: Final = 10.0

RequestCallback = Callable[["ServerRequest", Any], object]
# DnsServerPort has a ``socket`` property, which hides the module inside its body.
_Socket = socket.socket

# Header bits (RFC 1035 §4.1.1).
_QR: Final = 0x8000
_OPCODE: Final = 0x7800
_TC: Final = 0x0200
_RD: Final = 0x0100
_CD: Final = 0x0010
_TYPE_OPT: Final = 41
# Bits set_flags replaces: libevent's EVDNS_FLAGS_AA and EVDNS_FLAGS_RD. The latter
# is 0x080, which on the wire is RA ("recursion available"); levent keeps the value.
_SETTABLE: Final = int(EVDNS_FLAGS_AA) | int(EVDNS_FLAGS_RD)

# Sizes. Without EDNS a UDP answer is at most 512 bytes; with it, what the client
# advertised, never less than 512 (RFC 6891 §6.2.5) nor more than fits in an IPv4
# datagram. TCP messages are framed by a 16-bit length.
_DNS_MAX_UDP: Final = 512
_MAX_UDP_PAYLOAD: Final = 65507
_MAX_TCP_MESSAGE: Final = 65535
# A query is small; libevent reads 1500 bytes. A longer datagram is cut by the
# kernel and then fails to parse, which is the right outcome for it.
_UDP_RECV_SIZE: Final = 4096
# Datagrams read per readiness: enough to drain a burst, bounded so one busy port
# cannot starve the loop's other events (the rest are read next iteration).
_UDP_BATCH: Final = 64
# Replies waiting for the socket to take them after EAGAIN. Beyond this they are
# dropped: a client that floods a full socket loses answers, memory stays bounded.
_UDP_QUEUE_MAX: Final = 1024
# Per TCP connection: unanswered requests, and queued reply bytes, beyond which the
# server stops reading that connection until it catches up.
_TCP_MAX_PENDING: Final = 64
_TCP_OUTPUT_HIGH: Final = 256 * 1024
# Questions a query may ask. Real clients ask one (RFC 9619 makes that the rule);
# libevent takes any number, but a 64 KiB TCP message of 13 000 root questions
# would cost that many objects and an echo of them all. Beyond it: FORMERR.
_MAX_QUESTIONS: Final = 32

_HEADER = struct.Struct(">6H")
_U16 = struct.Struct(">H")
_TYPECLASS = struct.Struct(">HH")
_RR_FIXED = struct.Struct(">HHIH")
# The OPT record levent's replies carry when the query had one: root owner, type 41,
# a 512-byte payload size (what libevent advertises), no extended rcode, no options.
_OPT_RR: Final = b"\x00" + _RR_FIXED.pack(_TYPE_OPT, _DNS_MAX_UDP, 0, 0)

# Label bytes dnspython's to_text prints as themselves: printable ASCII except
# the characters it escapes. Names made only of these (and the dots between
# labels) skip dnspython entirely.
_PLAIN_BYTES: Final = bytes(c for c in range(0x21, 0x7F) if c not in b'"().;\\@$')
_PLAIN_NAME: Final = re.compile(b"[." + re.escape(_PLAIN_BYTES) + b"]+")

# Text name -> wire form, for names handed to add_*_reply that are not the question's.
# Bounded: cleared when full, so hostile or endless name sets cost no memory.
_WIRE_CACHE: dict[str, bytes] = {}
_WIRE_CACHE_MAX: Final = 4096
_ROOT_WIRE: Final = b"\x00"


# -- wire format: queries in (sans-IO) -------------------------------------------------------


class _Unreadable(Exception):
    """Not a query anyone may answer (too short for a header, or a response): drop it."""


class _Malformed(Exception):
    """A query header followed by something unparseable: answer FORMERR."""


class ServerQuestion(NamedTuple):
    """One question of a request (``struct evdns_server_question``).

    ``name`` is in presentation format without the final dot (``""`` for the
    root), with dnspython's escapes for unusual bytes, so it can be passed back
    to ``add_*_reply`` unchanged; its case is the client's.
    """

    name: str
    type: int
    dns_question_class: int


class ParsedQuery(NamedTuple):
    """What :func:`parse_query` reads from a query message."""

    msg_id: int
    #: The header flags with only RD and CD kept, as libevent keeps them.
    flags: int
    opcode: int
    questions: list[ServerQuestion]
    #: Each question's name in uncompressed wire form, original case.
    qwires: list[bytes]
    #: The question section as the reply repeats it (uncompressed).
    qsection: bytes
    #: The largest UDP reply the client takes: 512, or its EDNS payload size.
    max_udp: int
    #: Whether the query carried an OPT record (the reply then carries one too).
    edns: bool


def _read_name(data: bytes, off: int) -> tuple[bytes, list[bytes], int]:
    """The name at ``off``: (uncompressed wire form, labels, offset past it).

    Raises ``IndexError`` when the message ends inside the name, ``_Malformed``
    when it is too long or uses a reserved label type.
    """
    start = off
    labels: list[bytes] = []
    while True:
        n = data[off]
        if n == 0:
            off += 1
            break
        if n > 63:
            return _read_compressed(data, start)
        off += n + 1
        # A label running past the end makes the next data[off] raise.
        labels.append(data[off - n : off])
    if off - start > 255:
        raise _Malformed("name longer than 255 bytes")
    return data[start:off], labels, off


def _read_compressed(data: bytes, start: int) -> tuple[bytes, list[bytes], int]:
    # The resolver's reader follows the pointers, refusing forward pointers,
    # loops, reserved label types and names over 255 bytes.
    try:
        labels, end = read_labels(data, start, len(data))
    except WireError as exc:
        raise _Malformed(str(exc)) from None
    wire = b"".join([bytes((len(label),)) + label for label in labels]) + b"\x00"
    return wire, labels, end


def _skip_name(data: bytes, off: int) -> int:
    """The offset past the (possibly compressed) name at ``off``."""
    while True:
        n = data[off]
        if n == 0:
            return off + 1
        if n >= 0xC0:
            if off + 1 >= len(data):
                raise IndexError("compression pointer cut short")
            return off + 2
        if n > 63:
            raise _Malformed("reserved label type")
        off += n + 1


def _name_text(labels: list[bytes]) -> str:
    """Presentation form without the final dot, as dnspython's ``to_text`` writes it."""
    if not labels:
        return ""
    joined = b".".join(labels)
    # The dot count rules out labels that themselves contain a dot.
    if _PLAIN_NAME.fullmatch(joined) is not None and joined.count(b".") == len(labels) - 1:
        return joined.decode("ascii")
    return dns.name.Name([*labels, b""]).to_text(omit_final_dot=True)


def parse_query(data: bytes) -> ParsedQuery:
    """Read a query message (evdns.c's ``request_parse``).

    Raises ``_Unreadable`` for a message that must not be answered and
    ``_Malformed`` for one that deserves FORMERR. Sections after the questions
    are skipped, except that an OPT record in the additional section sets the
    client's UDP payload size (and the first one wins, as in libevent). Bytes
    after the last record are ignored, as libevent does.
    """
    if len(data) < 12:
        raise _Unreadable("shorter than a DNS header")
    msg_id, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    if flags & _QR:
        raise _Unreadable("a response, not a query")
    if qdcount > _MAX_QUESTIONS:
        raise _Malformed(f"{qdcount} questions")
    try:
        off = 12
        questions: list[ServerQuestion] = []
        qwires: list[bytes] = []
        plain = True
        for _ in range(qdcount):
            wire, labels, end = _read_name(data, off)
            qtype, qclass = _TYPECLASS.unpack_from(data, end)
            plain = plain and end - off == len(wire)
            questions.append(ServerQuestion(_name_text(labels), qtype, qclass))
            qwires.append(wire)
            off = end + 4
        if plain:
            qsection = data[12:off]
        else:
            qsection = b"".join(
                w + _TYPECLASS.pack(q.type, q.dns_question_class)
                for w, q in zip(qwires, questions, strict=True)
            )
        size = len(data)
        for _ in range(ancount + nscount):
            off = _skip_name(data, off)
            off += 10 + _U16.unpack_from(data, off + 8)[0]
            if off > size:
                raise _Malformed("record data runs past the end")
        max_udp = _DNS_MAX_UDP
        edns = False
        for _ in range(arcount):
            off = _skip_name(data, off)
            rtype, rclass, _ttl, rdlen = _RR_FIXED.unpack_from(data, off)
            off += 10 + rdlen
            if off > size:
                raise _Malformed("record data runs past the end")
            if rtype == _TYPE_OPT:
                # An OPT record's class is the requestor's UDP payload size.
                edns = True
                max_udp = min(max(rclass, _DNS_MAX_UDP), _MAX_UDP_PAYLOAD)
                break
    except (IndexError, struct.error):
        raise _Malformed("message ends inside a record") from None
    return ParsedQuery(
        msg_id,
        flags & (_RD | _CD),
        (flags & _OPCODE) >> 11,
        questions,
        qwires,
        qsection,
        max_udp,
        edns,
    )


def format_error_reply(data: bytes) -> bytes:
    """A FORMERR reply to the query whose header starts ``data``: no sections."""
    msg_id, flags = _TYPECLASS.unpack_from(data)
    return _HEADER.pack(msg_id, _QR | (flags & (_OPCODE | _RD | _CD)) | 1, 0, 0, 0, 0)


# -- wire format: replies out (sans-IO) -----------------------------------------------------

# One record of a reply: (section, owner wire name, type, class, ttl, rdata, rdata is a
# wire name to compress).
_Record = tuple[int, bytes, int, int, int, bytes, bool]


def _remember(table: dict[bytes, int], wire: bytes, at: int) -> None:
    """Make every suffix of ``wire``, written at offset ``at``, a compression target."""
    p = 0
    while wire[p] and at + p <= 0x3FFF:
        table.setdefault(wire[p:], at + p)
        p += wire[p] + 1


def _put_name(out: bytearray, wire: bytes, table: dict[bytes, int]) -> None:
    """Append ``wire`` to ``out``, its longest already-written suffix as a pointer.

    Suffixes match byte for byte, case included, as libevent's label table does
    (strcmp): every name reaches the client in exactly the case it was given.
    """
    at = len(out)
    p = 0
    while wire[p]:
        suffix = wire[p:]
        target = table.get(suffix)
        if target is not None:
            out += wire[:p]
            out += _U16.pack(0xC000 | target)
            return
        if at + p <= 0x3FFF:
            table[suffix] = at + p
        p += wire[p] + 1
    out += wire


def render_reply(
    msg_id: int,
    flags: int,
    qwires: list[bytes],
    qsection: bytes,
    records: list[_Record],
    edns: bool,
    limit: int,
) -> bytes:
    """A reply message of at most ``limit`` bytes (evdns.c's ``format_response``).

    ``flags`` is the whole header flag word (QR, rcode and the rest); ``records``
    are in section order. Names are compressed against everything written
    before them. When the message does not fit, whole records are kept while
    they fit, the counts say what is there, TC is set and the OPT record (if
    any) is still last: a well-formed message, unlike libevent's cut at byte 512.
    """
    out = bytearray(12)
    out += qsection
    qdcount = len(qwires)
    ends: list[int] = []
    if records:
        table: dict[bytes, int] = {}
        at = 12
        for wire in qwires:
            _remember(table, wire, at)
            at += len(wire) + 4
        for _section, owner, rtype, rclass, ttl, rdata, is_name in records:
            _put_name(out, owner, table)
            if is_name:
                out += _RR_FIXED.pack(rtype, rclass, ttl, 0)
                start = len(out)
                _put_name(out, rdata, table)
                _U16.pack_into(out, start - 2, len(out) - start)
            else:
                out += _RR_FIXED.pack(rtype, rclass, ttl, len(rdata))
                out += rdata
            ends.append(len(out))
    room = limit - len(_OPT_RR) if edns else limit
    kept = len(records)
    if len(out) > room:
        flags |= _TC
        kept = bisect_right(ends, room)
        cut = ends[kept - 1] if kept else 12 + len(qsection)
        if cut > room:
            # Not even the questions fit (only many long ones can do that).
            cut = 12
            qdcount = 0
        del out[cut:]
    counts = [0, 0, 0]
    for i in range(kept):
        counts[records[i][0]] += 1
    if edns:
        out += _OPT_RR
        counts[2] += 1
    _HEADER.pack_into(out, 0, msg_id, flags & 0xFFFF, qdcount, *counts)
    return bytes(out)


# -- argument conversion ------------------------------------------------------------------


def _name_wire(name: object) -> bytes:
    """The wire form of a name given as text (presentation format) or a dnspython Name."""
    if isinstance(name, str):
        wire = _WIRE_CACHE.get(name)
        if wire is not None:
            return wire
        if name in ("", "."):
            return _ROOT_WIRE
        try:
            wire = dns.name.from_text(name).to_wire()
        except (dns.exception.DNSException, UnicodeError) as exc:
            raise ValueError(f"bad DNS name {name!r}: {exc}") from None
        assert wire is not None
        if len(_WIRE_CACHE) >= _WIRE_CACHE_MAX:
            _WIRE_CACHE.clear()
        _WIRE_CACHE[name] = wire
        return wire
    if isinstance(name, dns.name.Name):
        if not name.is_absolute():
            name = name.derelativize(dns.name.root)
        wire = name.to_wire()
        assert wire is not None
        return wire
    raise TypeError(f"a DNS name must be a str or dns.name.Name, not {type(name).__name__}")


def _check_u(value: object, bits: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{what} {value} is out of range (0 to {(1 << bits) - 1})")
    return value


def _pack_addresses(addrs: object, family: int, size: int) -> list[bytes]:
    """Packed addresses from one address (text), a packed array (as the C API takes),
    or an iterable of text, packed or ``ipaddress`` addresses."""
    if isinstance(addrs, str):
        return [_pack_address(addrs, family, size)]
    if isinstance(addrs, (bytes, bytearray, memoryview)):
        raw = bytes(addrs)
        if not raw or len(raw) % size:
            raise ValueError(f"packed addresses must be a non-empty multiple of {size} bytes")
        return [raw[i : i + size] for i in range(0, len(raw), size)]
    if not isinstance(addrs, Iterable):
        raise TypeError(f"addrs must be an address or a sequence of them, not {addrs!r}")
    packed = [_pack_address(a, family, size) for a in addrs]
    if not packed:
        raise ValueError("no addresses given")
    return packed


def _pack_address(addr: object, family: int, size: int) -> bytes:
    if isinstance(addr, str):
        try:
            return socket.inet_pton(family, addr)
        except OSError:
            raise ValueError(f"{addr!r} is not an IPv{4 if size == 4 else 6} address") from None
    if isinstance(addr, (bytes, bytearray, memoryview)):
        raw = bytes(addr)
        if len(raw) != size:
            raise ValueError(f"a packed address must be {size} bytes, not {len(raw)}")
        return raw
    if isinstance(addr, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        if len(addr.packed) != size:
            raise ValueError(f"{addr} is not an IPv{4 if size == 4 else 6} address")
        return addr.packed
    raise TypeError(f"an address must be a str, bytes or ipaddress object, not {addr!r}")


def _reverse_name(addr: object) -> str:
    """The in-addr.arpa (or ip6.arpa) name of an address: text, packed or ``ipaddress``."""
    if isinstance(addr, str):
        try:
            addr = ipaddress.ip_address(addr)
        except ValueError:
            raise ValueError(f"{addr!r} is not an IP address") from None
    if isinstance(addr, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        raw = addr.packed
    elif isinstance(addr, (bytes, bytearray, memoryview)):
        raw = bytes(addr)
    else:
        raise TypeError(f"in_addr must be a str, bytes or ipaddress object, not {addr!r}")
    if len(raw) == 4:
        return f"{raw[3]}.{raw[2]}.{raw[1]}.{raw[0]}.in-addr.arpa"
    if len(raw) == 16:
        return ".".join(reversed(raw.hex())) + ".ip6.arpa"
    raise ValueError(f"a packed address must be 4 or 16 bytes, not {len(raw)}")


# -- the request ------------------------------------------------------------------------


class ServerRequest:
    """A query a port received and the reply being built (``struct evdns_server_request``).

    The port creates it and passes it to its callback; it lives until
    ``respond()`` or ``drop()``, which may come from any later callback. Misuse
    after that — a second respond, a record added to an answered request —
    raises :class:`~levent.errors.EventStateError` (libevent returns -1 or
    touches freed memory). A request garbage-collected unanswered counts as
    dropped, with a ``ResourceWarning``.
    """

    __slots__ = (
        "_addr",
        "_client",
        "_done",
        "_edns",
        "_id",
        "_max_udp",
        "_port",
        "_qsection",
        "_qwires",
        "_records",
        "_unsorted",
        "flags",
        "questions",
    )

    def __init__(
        self,
        port: DnsServerPort,
        query: ParsedQuery,
        addr: Any,
        client: _TcpClient | None,
    ) -> None:
        self._port = port
        self._id = query.msg_id
        #: Header flags of the reply: the query's RD and CD (as libevent keeps), plus
        #: what ``set_flags`` adds. ``respond`` ORs in QR and the rcode.
        self.flags = query.flags
        #: The questions, in order (``questions`` / ``nquestions`` of the C struct).
        self.questions = query.questions
        self._qwires = query.qwires
        self._qsection = query.qsection
        self._max_udp = query.max_udp
        self._edns = query.edns
        self._addr = addr
        self._client = client
        self._records: list[_Record] = []
        self._unsorted = False
        self._done = False

    # -- what was asked ---------------------------------------------------------------

    @property
    def nquestions(self) -> int:
        """How many questions the query had (``nquestions``)."""
        return len(self.questions)

    def get_requesting_addr(self) -> Any:
        """The client's address, as ``socket.recvfrom`` gives it
        (``evdns_server_request_get_requesting_addr``); for TCP, the peer's."""
        return self._addr

    @property
    def requesting_addr(self) -> Any:
        """The client's address (see :meth:`get_requesting_addr`)."""
        return self._addr

    # -- building the reply ----------------------------------------------------------

    def _check_open(self) -> None:
        if self._done:
            raise EventStateError("the request was already answered or dropped")

    def _wire_for(self, name: object) -> bytes:
        # Most answers are for the question's own name: reuse its wire form, case and all.
        if type(name) is str:
            for question, wire in zip(self.questions, self._qwires, strict=True):
                if question.name == name:
                    return wire
        return _name_wire(name)

    def _add(self, records: list[_Record]) -> None:
        existing = self._records
        section = records[0][0]
        if existing and existing[-1][0] > section:
            self._unsorted = True
        existing.extend(records)

    def add_reply(
        self,
        section: int,
        name: str | dns.name.Name,
        type: int,
        class_: int,
        ttl: int,
        data: bytes | bytearray | memoryview | str | dns.name.Name | None,
        is_name: bool = False,
    ) -> None:
        """Add one resource record (``evdns_server_request_add_reply``).

        ``section`` is an ``EVDNS_*_SECTION``; ``data`` is the rdata as bytes
        (None: empty), or with ``is_name`` a domain name, compressed like the
        owner name. Bad values raise ``ValueError``/``TypeError`` at once.
        """
        self._check_open()
        if section not in (0, 1, 2) or isinstance(section, bool):
            raise ValueError(f"section must be an EVDNS_*_SECTION (0, 1 or 2), not {section!r}")
        owner = self._wire_for(name)
        rtype = _check_u(type, 16, "type")
        rclass = _check_u(class_, 16, "class")
        rttl = _check_u(ttl, 32, "ttl")
        if is_name:
            if data is None or isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError("with is_name, data must be a name (str or dns.name.Name)")
            rdata = self._wire_for(data)
        elif data is None:
            rdata = b""
        elif isinstance(data, (bytes, bytearray, memoryview)):
            rdata = bytes(data)
            if len(rdata) > 0xFFFF:
                raise ValueError("record data longer than 65535 bytes")
        else:
            raise TypeError(f"data must be bytes (or a name with is_name), not {data!r}")
        self._add([(int(section), owner, rtype, rclass, rttl, rdata, bool(is_name))])

    def _add_addresses(self, name: object, rtype: int, packed: list[bytes], ttl: int) -> None:
        self._check_open()
        owner = self._wire_for(name)
        rttl = _check_u(ttl, 32, "ttl")
        # One record per address: libevent packs them all into one record's rdata.
        self._add([(0, owner, rtype, EVDNS_CLASS_INET, rttl, a, False) for a in packed])

    def add_a_reply(self, name: str | dns.name.Name, addrs: Any, ttl: int) -> None:
        """Add A records for ``name`` (``evdns_server_request_add_a_reply``).

        ``addrs``: one address as text, the C API's packed array of 4-byte
        addresses, or a sequence of text, packed or ``ipaddress`` addresses.
        """
        self._add_addresses(name, EVDNS_TYPE_A, _pack_addresses(addrs, socket.AF_INET, 4), ttl)

    def add_aaaa_reply(self, name: str | dns.name.Name, addrs: Any, ttl: int) -> None:
        """Add AAAA records for ``name`` (``evdns_server_request_add_aaaa_reply``); ``addrs``
        as for :meth:`add_a_reply`, with 16-byte addresses."""
        self._add_addresses(name, EVDNS_TYPE_AAAA, _pack_addresses(addrs, socket.AF_INET6, 16), ttl)

    def add_ptr_reply(
        self,
        in_addr: str | bytes | ipaddress.IPv4Address | ipaddress.IPv6Address | None,
        inaddr_name: str | dns.name.Name | None,
        hostname: str | dns.name.Name,
        ttl: int,
    ) -> None:
        """Add a PTR record (``evdns_server_request_add_ptr_reply``).

        Give exactly one of ``in_addr`` (an address: text, packed or
        ``ipaddress``; IPv6 is a levent extra) and ``inaddr_name`` (the
        in-addr.arpa name itself); both or neither is a ``ValueError``.
        """
        if (in_addr is None) == (inaddr_name is None):
            raise ValueError("give exactly one of in_addr and inaddr_name")
        owner = inaddr_name if in_addr is None else _reverse_name(in_addr)
        assert owner is not None
        self.add_reply(
            EVDNS_ANSWER_SECTION, owner, EVDNS_TYPE_PTR, EVDNS_CLASS_INET, ttl, hostname, True
        )

    def add_cname_reply(
        self, name: str | dns.name.Name, cname: str | dns.name.Name, ttl: int
    ) -> None:
        """Add a CNAME record (``evdns_server_request_add_cname_reply``)."""
        self.add_reply(
            EVDNS_ANSWER_SECTION, name, EVDNS_TYPE_CNAME, EVDNS_CLASS_INET, ttl, cname, True
        )

    def set_flags(self, flags: int) -> None:
        """Replace the AA and "RD" bits of the reply (``evdns_server_request_set_flags``).

        As libevent: both ``EVDNS_FLAGS_*`` bits are cleared, then ``flags`` is
        ORed in. ``EVDNS_FLAGS_RD`` is 0x080, the header's RA bit; the query's
        own RD bit (0x100) is always echoed.
        """
        self.flags = (self.flags & ~_SETTABLE) | _check_u(flags, 16, "flags")

    # -- finishing -------------------------------------------------------------------------

    def respond(self, rcode: int) -> None:
        """Send the reply with ``rcode`` (0 to 15, e.g. ``DNS_ERR_NOTEXIST``) and free the request
        (``evdns_server_request_respond``).

        Never raises for network trouble: a reply the socket will not take now
        waits for it (UDP, bounded) or is dropped and logged; a reply for a TCP
        client that has gone is discarded. A bad ``rcode`` raises ``ValueError``
        and leaves the request open, as libevent's -1 does.
        """
        self._check_open()
        if not isinstance(rcode, int) or not 0 <= rcode <= 15:
            raise ValueError(f"rcode must be 0 to 15, not {rcode!r}")
        self._done = True
        try:
            client = self._client
            if client is None or not client.closed:
                records = self._records
                if self._unsorted:
                    records = sorted(records, key=_section_of)
                limit = self._max_udp if client is None else _MAX_TCP_MESSAGE
                wire = render_reply(
                    self._id,
                    self.flags | _QR | rcode,
                    self._qwires,
                    self._qsection,
                    records,
                    self._edns,
                    limit,
                )
                if client is None:
                    self._port._send_udp(wire, self._addr)
                else:
                    client.send(wire)
        finally:
            self._records = []
            self._port._request_done(self)

    def drop(self) -> None:
        """Free the request without answering (``evdns_server_request_drop``)."""
        self._check_open()
        self._done = True
        self._records = []
        self._port._request_done(self)

    def __del__(self) -> None:
        # libevent leaks a request nobody answers; in Python it is garbage, so it is
        # dropped here and the port can finish closing.
        try:
            if self._done:
                return
            self._done = True
            self._port._request_done(self)
            warnings.warn(f"{self!r} was never answered or dropped", ResourceWarning, stacklevel=1)
        except Exception:  # pragma: no cover - interpreter shutdown or half-built object
            pass

    def __repr__(self) -> str:
        state = "done" if self._done else "open"
        names = ", ".join(q.name or "." for q in self.questions)
        return f"<ServerRequest id={self._id} [{names}] from {self._addr!r} {state}>"


def _section_of(record: _Record) -> int:
    return record[0]


# -- TCP connections ------------------------------------------------------------------------


class _TcpClient:
    """One TCP connection of a listener port: framing, flow control and lifetime.

    Reading pauses while too many of its requests are unanswered or too many reply
    bytes are queued, and resumes when they drain; after the peer's EOF the
    connection stays until its outstanding answers are written.
    """

    __slots__ = (
        "bev",
        "closed",
        "need",
        "peer",
        "peer_done",
        "pending",
        "port",
        "reading",
        "watching_drain",
        "watermark",
    )

    def __init__(self, port: DnsServerPort, bev: BufferEvent, peer: Any) -> None:
        self.port = port
        self.bev = bev
        self.peer = peer
        self.need = 0  # length of the message being read; 0 while reading a length
        self.pending = 0  # requests handed to the callback and not yet finished
        self.closed = False
        self.peer_done = False
        self.reading = True
        self.watching_drain = False
        self.watermark = 2

    def on_read(self) -> None:
        inp = self.bev.input
        port = self.port
        while self.reading and not self.closed:
            need = self.need
            if not need:
                if len(inp) < 2:
                    break
                need = _U16.unpack(inp.remove(2))[0]
                if not need:
                    # libevent too: a zero length is not a message, the stream is lost.
                    self.close()
                    return
                self.need = need
            if len(inp) < need:
                break
            message = inp.remove(need)
            self.need = 0
            port._handle_tcp(self, message)
        if not self.closed:
            wanted = self.need or 2
            if wanted != self.watermark:
                self.watermark = wanted
                self.bev.setwatermark(EV_READ, wanted, 0)

    def on_event(self, what: int) -> None:
        if what & BEV_EVENT_TIMEOUT and not what & (BEV_EVENT_EOF | BEV_EVENT_ERROR):
            if what & BEV_EVENT_READING and self.pending and self.reading:
                # The client waits for an answer the server owes it: that is not idle.
                self.bev.enable(EV_READ)
                return
            self.close()
            return
        if what & BEV_EVENT_EOF and not what & BEV_EVENT_ERROR:
            self.peer_done = True
            self.sync()
            return
        self.close()

    def send(self, wire: bytes) -> None:
        self.bev.write(_U16.pack(len(wire)) + wire)
        if len(self.bev.output) > _TCP_OUTPUT_HIGH:
            self.sync()

    def request_done(self) -> None:
        self.pending -= 1
        if not self.closed:
            self.sync()

    def sync(self) -> None:
        """Bring reading, the drain callback and closing in line with the state."""
        if self.closed:
            return
        bev = self.bev
        queued = len(bev.output)
        if self.peer_done and not self.pending and not queued:
            self.close()
            return
        want = not self.peer_done and self.pending < _TCP_MAX_PENDING and queued <= _TCP_OUTPUT_HIGH
        if want != self.reading:
            self.reading = want
            if want:
                bev.enable(EV_READ)
                # Messages may be waiting in the input already: read them from the loop,
                # not from inside whatever user code got us here.
                bev.trigger(EV_READ, BEV_TRIG_DEFER_CALLBACKS)
            else:
                bev.disable(EV_READ)
        drain = bool(queued) and (self.peer_done or queued > _TCP_OUTPUT_HIGH)
        if drain != self.watching_drain:
            self.watching_drain = drain
            bev.setcb(_tcp_read, _tcp_drained if drain else None, _tcp_event, self)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.bev.free()
        self.port._clients.discard(self)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"pending={self.pending}"
        return f"<DNS TCP client {self.peer!r} {state}>"


def _tcp_read(bev: BufferEvent, client: _TcpClient) -> None:
    client.on_read()


def _tcp_drained(bev: BufferEvent, client: _TcpClient) -> None:
    client.sync()


def _tcp_event(bev: BufferEvent, what: int, client: _TcpClient) -> None:
    client.on_event(what)


# -- the port -----------------------------------------------------------------------------


def _adopt_datagram_socket(sock: object) -> _Socket:
    """The caller's bound datagram socket (or fd), non-blocking; nothing closed on error."""
    if isinstance(sock, socket.socket):
        if sock.fileno() < 0:
            raise ValueError("sock is closed")
        owned = sock
    elif isinstance(sock, int) and not isinstance(sock, bool):
        owned = socket.socket(fileno=sock)
    else:
        raise TypeError(f"sock must be a socket or an fd, not {type(sock).__name__}")
    try:
        if owned.type != socket.SOCK_DGRAM:
            raise ValueError("a UDP server port needs a datagram socket; TCP uses with_listener")
        owned.setblocking(False)
    except BaseException:
        if owned is not sock:
            owned.detach()  # the fd stays the caller's
        raise
    return owned


class DnsServerPort:
    """A DNS server on one UDP socket or one TCP listener (``struct evdns_server_port``).

    ``DnsServerPort(base, sock, flags, cb, arg)`` is
    ``evdns_add_server_port_with_base``: ``sock`` is a bound datagram socket
    (``socket.socket`` or fd), made non-blocking. The port owns it from then
    on: as ``evdns_close_server_port`` does, ``close()`` closes it (a
    ``socket.socket`` object is closed through its own ``close()``, so it will
    not close a reused fd number later). ``flags`` must be 0, as in libevent.
    ``cb(request, arg)`` runs once per query; an exception it raises goes to
    the base's error handler and the request, if still open, is answered
    SERVFAIL.

    A port closed while requests are outstanding keeps its UDP socket open
    until they are answered or dropped (libevent does the same), but reads and
    accepts nothing more and drops its TCP connections at once.
    """

    __slots__ = (
        "_arg",
        "_base",
        "_cb",
        "_clients",
        "_closing",
        "_freed",
        "_idle_timeout",
        "_listener",
        "_max_clients",
        "_outstanding",
        "_queue",
        "_read_ev",
        "_recvfrom",
        "_sendto",
        "_sock",
        "_write_ev",
    )

    _sock: _Socket | None
    _read_ev: Event | None
    _write_ev: Event | None

    def __init__(
        self,
        base: EventBase,
        sock: socket.socket | int,
        flags: int = 0,
        cb: RequestCallback | None = None,
        arg: Any = None,
    ) -> None:
        self._setup(base, flags, cb, arg)
        owned = _adopt_datagram_socket(sock)
        self._sock = owned
        self._recvfrom = owned.recvfrom
        self._sendto = owned.sendto
        fd = owned.fileno()
        self._read_ev = Event(base, fd, EV_READ | EV_PERSIST, self._on_readable)
        self._write_ev = Event(base, fd, EV_WRITE | EV_PERSIST, self._on_writable)
        self._read_ev.add()

    @classmethod
    def with_listener(
        cls,
        base: EventBase,
        listener: Listener,
        flags: int = 0,
        cb: RequestCallback | None = None,
        arg: Any = None,
    ) -> DnsServerPort:
        """DNS over TCP on ``listener``'s connections (``evdns_add_server_port_with_listener``).

        The port takes over the listener's callback and frees the listener when
        it closes. At most ``DEFAULT_TCP_MAX_CLIENTS`` connections are served at
        once; one accepted beyond that is closed at once, as libevent does.
        """
        if not isinstance(listener, Listener):
            raise TypeError(f"listener must be a Listener, not {type(listener).__name__}")
        if listener.base is not base:
            raise BaseMismatchError("the listener belongs to another EventBase")
        port = cls.__new__(cls)
        port._setup(base, flags, cb, arg)
        port._listener = listener
        listener.set_cb(port._on_accept, None)
        return port

    def _setup(self, base: EventBase, flags: int, cb: RequestCallback | None, arg: Any) -> None:
        if not isinstance(base, EventBase):
            raise TypeError(f"base must be an EventBase, not {type(base).__name__}")
        if flags != 0:
            raise ValueError("flags must be 0 (libevent defines none)")
        if cb is None or not callable(cb):
            raise TypeError("cb must be callable: cb(request, arg)")
        self._base = base
        self._cb = cb
        self._arg = arg
        self._sock = None
        self._listener: Listener | None = None
        self._read_ev = None
        self._write_ev = None
        self._queue: collections.deque[tuple[bytes, Any]] = collections.deque()
        self._clients: set[_TcpClient] = set()
        self._max_clients = DEFAULT_TCP_MAX_CLIENTS
        self._idle_timeout = DEFAULT_TCP_IDLE_TIMEOUT
        self._outstanding = 0
        self._closing = False
        self._freed = False

    # -- accessors ---------------------------------------------------------------------

    @property
    def base(self) -> EventBase:
        """The EventBase the port runs on."""
        return self._base

    @property
    def socket(self) -> _Socket | None:
        """The UDP socket, or the listener's socket; None once the port is freed."""
        if self._freed:
            return None
        if self._listener is not None:
            return self._listener.socket
        return self._sock

    @property
    def listener(self) -> Listener | None:
        """The Listener of a TCP port (None for UDP)."""
        return self._listener

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._closing

    # -- options and closing ------------------------------------------------------------

    def set_option(self, option: int, value: float) -> None:
        """Tune a TCP port (``evdns_server_port_set_option``); ``ValueError`` on a UDP port.

        ``EVDNS_SOPT_TCP_MAX_CLIENTS``: connections served at once (an int ≥ 0;
        0 refuses all). ``EVDNS_SOPT_TCP_IDLE_TIMEOUT``: seconds of inactivity
        before a connection is closed (≥ 0; 0 means none, as a zero timeval
        does in libevent). Like libevent, both apply to connections accepted
        from now on.
        """
        if self._listener is None:
            raise ValueError("server port options apply to TCP ports only")
        if option == EVDNS_SOPT_TCP_MAX_CLIENTS:
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError("EVDNS_SOPT_TCP_MAX_CLIENTS takes an int")
            if value < 0:
                raise ValueError("EVDNS_SOPT_TCP_MAX_CLIENTS must not be negative")
            self._max_clients = value
        elif option == EVDNS_SOPT_TCP_IDLE_TIMEOUT:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError("EVDNS_SOPT_TCP_IDLE_TIMEOUT takes seconds (int or float)")
            if value < 0 or not math.isfinite(value):
                raise ValueError("EVDNS_SOPT_TCP_IDLE_TIMEOUT must be finite and not negative")
            self._idle_timeout = float(value)
        else:
            raise ValueError(f"unknown server port option {option!r}")

    def close(self) -> None:
        """Stop serving (``evdns_close_server_port``); idempotent.

        Reading and accepting stop now and TCP connections are closed (their
        outstanding requests' answers are discarded). The UDP socket, or the
        listener, is released once no request is outstanding.
        """
        if self._closing:
            return
        self._closing = True
        if self._read_ev is not None:
            self._read_ev.delete()
        listener = self._listener
        if listener is not None:
            with contextlib.suppress(EventStateError):  # the user freed it already
                listener.disable()
            for client in list(self._clients):
                client.close()
        self._maybe_free()

    def _maybe_free(self) -> None:
        if self._closing and not self._outstanding and not self._queue:
            self._free()

    def _free(self) -> None:
        if self._freed:
            return
        self._freed = True
        for ev in (self._read_ev, self._write_ev):
            if ev is not None:
                ev.free()
        self._queue.clear()
        sock = self._sock
        if sock is not None:
            self._sock = None
            sock.close()
        listener = self._listener
        if listener is not None:
            listener.free()

    def __enter__(self) -> DnsServerPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = "TCP" if self._listener is not None else "UDP"
        if self._freed:
            return f"<DnsServerPort {kind} closed>"
        where: Any = "?"
        sock = self.socket
        if sock is not None:
            with contextlib.suppress(OSError):
                where = sock.getsockname()
        state = "closing" if self._closing else "open"
        return f"<DnsServerPort {kind} {where!r} {state} outstanding={self._outstanding}>"

    # -- requests ----------------------------------------------------------------------

    def _dispatch(self, req: ServerRequest) -> None:
        if req.flags & _OPCODE:
            # Only standard queries are served; libevent answers the others NOTIMPL
            # without asking the callback.
            req.respond(DNS_ERR_NOTIMPL)
            return
        try:
            self._cb(req, self._arg)
        except Exception as exc:
            if not req._done:
                req.respond(DNS_ERR_SERVERFAILED)
            self._base._report(req, exc)

    def _request_done(self, req: ServerRequest) -> None:
        self._outstanding -= 1
        client = req._client
        if client is not None:
            client.request_done()
        if self._closing:
            self._maybe_free()

    def _new_request(self, query: ParsedQuery, addr: Any, client: _TcpClient | None) -> None:
        req = ServerRequest(self, query, addr, client)
        if query.opcode:
            req.flags |= query.opcode << 11
        self._outstanding += 1
        self._dispatch(req)

    # -- UDP -------------------------------------------------------------------------------

    def _on_readable(self, _fd: int, _what: int, _arg: object) -> None:
        recvfrom = self._recvfrom
        for _ in range(_UDP_BATCH):
            try:
                data, addr = recvfrom(_UDP_RECV_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                # An ICMP error for an earlier reply and the like: not fatal to the port.
                log.warn(f"evdns server: error {exc} while reading request")
                return
            try:
                query = parse_query(data)
            except _Unreadable:
                continue
            except _Malformed:
                self._send_udp(format_error_reply(data), addr)
                continue
            self._new_request(query, addr, None)
            if self._closing:
                return

    def _send_udp(self, wire: bytes, addr: Any) -> None:
        if self._freed:
            return
        if self._queue:
            self._enqueue(wire, addr)
            return
        try:
            self._sendto(wire, addr)
        except BlockingIOError:
            self._enqueue(wire, addr)
        except OSError as exc:
            log.debug(f"evdns server: dropping reply to {addr!r}: {exc}")

    def _enqueue(self, wire: bytes, addr: Any) -> None:
        queue = self._queue
        if len(queue) >= _UDP_QUEUE_MAX:
            log.debug(f"evdns server: reply queue full, dropping reply to {addr!r}")
            return
        queue.append((wire, addr))
        if len(queue) == 1 and self._write_ev is not None:
            self._write_ev.add()

    def _on_writable(self, _fd: int, _what: int, _arg: object) -> None:
        queue = self._queue
        sendto = self._sendto
        while queue:
            wire, addr = queue[0]
            try:
                sendto(wire, addr)
            except BlockingIOError:
                return
            except OSError as exc:
                log.debug(f"evdns server: dropping reply to {addr!r}: {exc}")
            queue.popleft()
        if self._write_ev is not None:
            self._write_ev.delete()
        self._maybe_free()

    # -- TCP -------------------------------------------------------------------------------

    def _on_accept(self, _listener: Listener, sock: _Socket, addr: Any, _arg: Any) -> None:
        if self._closing or len(self._clients) >= self._max_clients:
            sock.close()
            return
        bev = BufferEvent.socket(self._base, sock, BEV_OPT_CLOSE_ON_FREE)
        client = _TcpClient(self, bev, addr)
        timeout = self._idle_timeout
        if timeout:
            bev.set_timeouts(timeout, timeout)
        bev.setwatermark(EV_READ, 2, 0)
        bev.setcb(_tcp_read, None, _tcp_event, client)
        bev.enable(EV_READ)
        self._clients.add(client)

    def _handle_tcp(self, client: _TcpClient, message: bytes) -> None:
        try:
            query = parse_query(message)
        except _Unreadable:
            # Framing held but the content is not a query: nothing on this stream
            # can be trusted to be DNS.
            client.close()
            return
        except _Malformed:
            client.send(format_error_reply(message))
            return
        client.pending += 1
        if client.pending >= _TCP_MAX_PENDING:
            client.sync()
        self._new_request(query, client.peer, client)
