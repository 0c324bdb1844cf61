"""The DNS wire format the resolver needs: query encoding and reply reading (sans-IO).

A query is a 12-byte header, one question and, with EDNS, one OPT record:
small enough that hand packing it beats any general encoder. Replies are
read by :func:`read_reply`, a bounds-checked reader for exactly what the
resolver interprets (header, the echoed question, A/AAAA/PTR/CNAME answers,
the SOA of a negative answer). dnspython's ``dns.message.from_wire`` parses
everything a message can hold and costs about 120 µs a reply here; this
reader costs a few µs, and the test suite checks it against dnspython.

Hostile input: every read is bounds-checked; a compression pointer must point
before the previous jump target (so a pointer chain always terminates, in at
most 255 jumps); a name longer than 255 octets on the wire is refused. Any
violation raises :class:`WireError` and the caller drops the packet.
"""

from __future__ import annotations

import socket
import struct
from typing import Final

__all__ = [
    "CLASS_IN",
    "TYPE_A",
    "TYPE_AAAA",
    "TYPE_CNAME",
    "TYPE_PTR",
    "TYPE_SOA",
    "Reply",
    "WireError",
    "build_query",
    "name_to_wire",
    "randomize_case",
    "read_labels",
    "read_name",
    "read_reply",
]

TYPE_A: Final = 1
TYPE_CNAME: Final = 5
TYPE_SOA: Final = 6
TYPE_PTR: Final = 12
TYPE_AAAA: Final = 28
TYPE_OPT: Final = 41
CLASS_IN: Final = 1

FLAG_QR: Final = 0x8000
FLAG_TC: Final = 0x0200
RCODE_NXDOMAIN: Final = 3

_MAX_NAME: Final = 255
_MAX_LABEL: Final = 63
_MAX_CNAME_HOPS: Final = 16

_header = struct.Struct("!HHHHHH")
_rr_fixed = struct.Struct("!HHIH")
_qtail = struct.Struct("!HH")
_u32 = struct.Struct("!I")
_unpack_rr = _rr_fixed.unpack_from
_unpack_u32 = _u32.unpack_from
_inet_ntop = socket.inet_ntop
_AF_INET6 = socket.AF_INET6

# For 0x20 randomisation: 0x20 where a byte is an ASCII letter, 0 elsewhere.
_ALPHA_BITS: Final = bytes(0x20 if chr(i).isascii() and chr(i).isalpha() else 0 for i in range(256))


class WireError(ValueError):
    """A malformed DNS message (the peer's fault): the packet is dropped."""


def name_to_wire(name: str) -> bytes:
    """``www.example.com`` → ``\\x03www\\x07example\\x03com\\x00``; ValueError if it cannot be.

    A trailing dot (an absolute name) is accepted. Labels are 1-63 octets and
    the whole name at most 255, as RFC 1035 §2.3.4 says.
    """
    try:
        raw = name.encode("ascii")
    except UnicodeEncodeError:
        try:
            raw = name.encode("idna")
        except UnicodeError:
            raise ValueError(f"cannot encode DNS name {name!r}") from None
    if raw.endswith(b"."):
        raw = raw[:-1]
    if not raw:
        raise ValueError("empty DNS name")
    out = bytearray()
    for label in raw.split(b"."):
        if not label or len(label) > _MAX_LABEL:
            raise ValueError(f"bad label in DNS name {name!r}")
        out.append(len(label))
        out += label
    out.append(0)
    if len(out) > _MAX_NAME:
        raise ValueError(f"DNS name {name!r} is longer than 255 octets")
    return bytes(out)


def randomize_case(wire: bytes, rand: bytes) -> bytes:
    """Flip the 0x20 bit of each letter of ``wire`` where ``rand`` says so (dns-0x20).

    Length octets are at most 63, never a letter, so they are never touched.
    """
    n = len(wire)
    letters = int.from_bytes(wire.translate(_ALPHA_BITS), "big")
    mask = int.from_bytes(rand[:n], "big") & letters
    return (int.from_bytes(wire, "big") ^ mask).to_bytes(n, "big")


def build_query(txid: int, question: bytes, edns_size: int) -> bytes:
    """A recursive query: header, ``question`` (name + type + class), an OPT record
    advertising ``edns_size`` when it exceeds 512."""
    if edns_size > 512:
        opt = b"\x00" + struct.pack("!HHIH", TYPE_OPT, edns_size, 0, 0)
        return _header.pack(txid, 0x0100, 1, 0, 0, 1) + question + opt
    return _header.pack(txid, 0x0100, 1, 0, 0, 0) + question


def question_bytes(wire_name: bytes, qtype: int) -> bytes:
    """The question section for ``wire_name``: what a reply must echo byte for byte."""
    return wire_name + _qtail.pack(qtype, CLASS_IN)


def read_labels(buf: bytes | bytearray, off: int, end: int) -> tuple[list[bytes], int]:
    """Read a possibly compressed name at ``off``: ``([b"www", b"example", b"com"], next_offset)``.

    Raises ``WireError`` for a name running past ``end``, a pointer that does
    not point backwards (so no loops), a reserved label type, or a name over
    255 octets.
    """
    labels: list[bytes] = []
    total = 1
    after = -1
    limit = off
    while True:
        if off >= end:
            raise WireError("name runs past the end of the message")
        n = buf[off]
        if n == 0:
            off += 1
            break
        if n >= 0xC0:
            if off + 1 >= end:
                raise WireError("truncated compression pointer")
            target = ((n & 0x3F) << 8) | buf[off + 1]
            if after < 0:
                after = off + 2
            # Each jump must land before the previous one: no loops, bounded work.
            if target >= limit:
                raise WireError("compression pointer does not point backwards")
            limit = off = target
            continue
        if n > _MAX_LABEL:
            raise WireError("unknown label type")
        start = off + 1
        off = start + n
        if off > end:
            raise WireError("label runs past the end of the message")
        total += n + 1
        if total > _MAX_NAME:
            raise WireError("name longer than 255 octets")
        labels.append(bytes(buf[start:off]))
    return labels, (after if after >= 0 else off)


def read_name(buf: bytes | bytearray, off: int, end: int) -> tuple[bytes, int]:
    """Read a possibly compressed name at ``off``: ``(b"www.example.com", next_offset)``."""
    labels, after = read_labels(buf, off, end)
    return b".".join(labels), after


class Reply:
    """What a reply says about our question (the resolver's view of ``reply_parse``).

    ``addresses`` are text addresses for A/AAAA, ``[name]`` for PTR; ``ttl``
    is the smallest TTL of the records used, or, for a negative answer, of the
    SOA record and its MINIMUM field (0 without SOA); ``cname`` is the
    canonical name when the answer went through CNAMEs; ``bogus`` marks an
    answer section holding records but nothing that answers the question.
    """

    __slots__ = ("addresses", "bogus", "cname", "rcode", "tc", "ttl")

    def __init__(self, rcode: int, tc: bool) -> None:
        self.rcode = rcode
        self.tc = tc
        self.addresses: list[str] = []
        self.ttl = 0
        self.cname: str | None = None
        self.bogus = False


def read_reply(
    buf: bytes | bytearray, end: int, question: bytes, exact_case: bool, qtype: int
) -> Reply | None:
    """Interpret the reply in ``buf[:end]`` to the query whose question is ``question``.

    Returns None when the packet is not a reply to that question (not a
    response, another question, or — with ``exact_case`` — the same name in
    other letter case). Raises WireError when it is malformed. Like
    libevent's ``reply_parse``, the sections of an error reply (an RCODE other
    than NXDOMAIN, or TC) are not read.
    """
    if end < 12:
        raise WireError("message shorter than a header")
    flags = (buf[2] << 8) | buf[3]
    if not flags & FLAG_QR:
        return None
    qdcount = (buf[4] << 8) | buf[5]
    rcode = flags & 0x0F
    tc = bool(flags & FLAG_TC)
    error = tc or (rcode != 0 and rcode != RCODE_NXDOMAIN)
    qend = 12 + len(question)
    if qdcount == 1:
        if qend > end:
            raise WireError("question runs past the end of the message")
        echoed = buf[12:qend]
        if echoed != question and (exact_case or echoed.lower() != question.lower()):
            return None
    elif not (qdcount == 0 and error):
        # A server that could not parse our query may leave the question out.
        return None
    reply = Reply(rcode, tc)
    if error:
        return reply
    ancount = (buf[6] << 8) | buf[7]
    nscount = (buf[8] << 8) | buf[9]
    off = _read_answers(reply, buf, qend, end, ancount, question, qtype)
    if not reply.addresses and nscount:
        _read_soa(reply, buf, off, end, nscount)
    return reply


def _read_answers(
    reply: Reply,
    buf: bytes | bytearray,
    off: int,
    end: int,
    count: int,
    question: bytes,
    qtype: int,
) -> int:
    """Collect the answer records of class IN, then follow the CNAME chain from the
    question's name; only records owned by a name on that chain are used."""
    if count == 0:
        return off
    records: list[tuple[bytes, int, int, int, int]] = []
    for _ in range(count):
        owner, off = read_name(buf, off, end)
        if off + 10 > end:
            raise WireError("record header runs past the end of the message")
        rtype, rclass, ttl, rdlen = _unpack_rr(buf, off)
        off += 10
        if off + rdlen > end:
            raise WireError("record data runs past the end of the message")
        if rclass == CLASS_IN and (rtype in (qtype, TYPE_CNAME)):
            records.append((owner.lower(), rtype, ttl, off, rdlen))
        off += rdlen
    current = _wire_to_dotted(question).lower()
    ttl_min = 0xFFFFFFFF
    cname: bytes | None = None
    for _ in range(_MAX_CNAME_HOPS):
        target = None
        for owner, rtype, _ttl, rdata, rdlen in records:
            if rtype == TYPE_CNAME and owner == current:
                name, _stop = read_name(buf, rdata, rdata + rdlen)
                target = name
                break
        if target is None:
            break
        cname = target
        current = target.lower()
    addresses = reply.addresses
    for owner, rtype, ttl, rdata, rdlen in records:
        if rtype != qtype or owner != current:
            continue
        if qtype == TYPE_A:
            if rdlen == 0 or rdlen & 3:
                raise WireError("A record data is not a whole number of addresses")
            for p in range(rdata, rdata + rdlen, 4):
                addresses.append(f"{buf[p]}.{buf[p + 1]}.{buf[p + 2]}.{buf[p + 3]}")
        elif qtype == TYPE_AAAA:
            if rdlen == 0 or rdlen & 15:
                raise WireError("AAAA record data is not a whole number of addresses")
            for p in range(rdata, rdata + rdlen, 16):
                addresses.append(_inet_ntop(_AF_INET6, bytes(buf[p : p + 16])))
        else:
            name, _stop = read_name(buf, rdata, rdata + rdlen)
            addresses.append(name.decode("latin-1").lower())
        if ttl < ttl_min:
            ttl_min = ttl
        if qtype == TYPE_PTR:
            break
    if addresses:
        reply.ttl = ttl_min
    elif cname is None:
        # Records, but none on the question's chain: not an answer to our question.
        reply.bogus = True
    if cname is not None:
        reply.cname = cname.decode("latin-1").lower()
    return off


def _read_soa(reply: Reply, buf: bytes | bytearray, off: int, end: int, count: int) -> None:
    """A negative answer's TTL: min(SOA record TTL, SOA MINIMUM) over the authority."""
    ttl_min = 0xFFFFFFFF
    for _ in range(count):
        _owner, off = read_name(buf, off, end)
        if off + 10 > end:
            raise WireError("record header runs past the end of the message")
        rtype, rclass, ttl, rdlen = _unpack_rr(buf, off)
        off += 10
        stop = off + rdlen
        if stop > end:
            raise WireError("record data runs past the end of the message")
        if rtype == TYPE_SOA and rclass == CLASS_IN:
            _mname, p = read_name(buf, off, stop)
            _rname, p = read_name(buf, p, stop)
            if p + 20 > stop:
                raise WireError("SOA record too short")
            (minimum,) = _unpack_u32(buf, p + 16)
            ttl_min = min(ttl_min, ttl, minimum)
        off = stop
    if ttl_min != 0xFFFFFFFF:
        reply.ttl = ttl_min


def _wire_to_dotted(question: bytes) -> bytes:
    """The dotted form of the name at the start of an uncompressed question."""
    labels = []
    off = 0
    while question[off]:
        n = question[off]
        labels.append(question[off + 1 : off + 1 + n])
        off += n + 1
    return b".".join(labels)
