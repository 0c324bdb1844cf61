"""URIs and the percent-encoding utilities (libevent's ``evhttp_uri`` and friends).

:class:`Uri` is an RFC 3986 URI-reference split into components, with
libevent's parser, setter validation and ``join``. The functions around it
percent-encode and decode strings, split ``k=v&k2=v2`` queries into
:class:`~levent.http.headers.Headers`, and escape HTML. Nothing here does I/O.

Text model. libevent works on C strings (bytes, NUL-terminated); levent works
on ``str``. Every character class below is ASCII-only, so a non-ASCII
character is refused wherever libevent refuses a byte >= 0x80, and accepted
where it accepts any byte (the NONCONFORMANT path, query and fragment). A NUL
character, which a C string cannot hold, is refused by the parser and by every
component setter. Percent-escapes are never decoded by the parser.
"""

from __future__ import annotations

import re
import socket

from .constants import (
    EVHTTP_URI_HOST_STRIP_BRACKETS,
    EVHTTP_URI_NONCONFORMANT,
    EVHTTP_URI_QUERY_LAST_VAL,
    EVHTTP_URI_QUERY_NONCONFORMANT,
    EVHTTP_URI_UNIX_SOCKET,
)
from .headers import Headers

__all__ = [
    "EVHTTP_URI_HOST_STRIP_BRACKETS",
    "EVHTTP_URI_NONCONFORMANT",
    "EVHTTP_URI_QUERY_LAST_VAL",
    "EVHTTP_URI_QUERY_NONCONFORMANT",
    "EVHTTP_URI_UNIX_SOCKET",
    "Uri",
    "decode_uri",
    "encode_uri",
    "htmlescape",
    "parse_query",
    "parse_query_str",
    "uridecode",
    "uridecode_bytes",
    "uriencode",
]

# -- RFC 3986 character classes ------------------------------------------------------
#
# Each component grammar is "some allowed characters or %XX escapes, repeated". The
# regexes below never backtrack: '%' is outside every class, so each position has one
# way to match. They always match (possibly empty), and ``.end()`` is where the first
# character the grammar refuses sits.

_HEX = "0-9A-Fa-f"
_UNRESERVED = "A-Za-z0-9\\-._~"
_SUBDELIMS = "!$&'()*+,;="


def _component(extra: str) -> re.Pattern[str]:
    return re.compile(f"(?:[{_UNRESERVED}{_SUBDELIMS}{extra}]+|%[{_HEX}]{{2}})*")


_SCHEME_RE = re.compile("[A-Za-z][A-Za-z0-9+\\-.]*")
_USERINFO_RE = _component(":")
_REGNAME_RE = _component("")
_PATH_RE = _component(":@/")
# Query and fragment share a grammar: path characters plus '?'.
_QUERY_RE = _component(":@/?")
# libevent accepts an empty tail after the '.', where RFC 3986 wants one character.
_IPVFUTURE_RE = re.compile(f"v[{_HEX}]+\\.[{_UNRESERVED}{_SUBDELIMS}:]*")
_AUTHORITY_END_RE = re.compile("[/?#]")

# EVHTTP_URI_NONCONFORMANT: a part runs to the next delimiter whatever it holds, but a
# NUL still ends it (libevent's C string ends there; levent refuses the character).
_LAX_PATH_RE = re.compile("[^?#\0]*")
_LAX_QUERY_RE = re.compile("[^#\0]*")
_LAX_FRAGMENT_RE = re.compile("[^\0]*")

# (path, query, fragment) scanners, chosen once per parse from the flags.
_STRICT_SCANNERS = (_PATH_RE, _QUERY_RE, _QUERY_RE)
_LAX_SCANNERS = (_LAX_PATH_RE, _LAX_QUERY_RE, _LAX_FRAGMENT_RE)

_DIGITS = "0123456789"


def _refusal(what: str, s: str, i: int) -> str:
    """Say why ``s[i]`` ends component ``what``."""
    if s[i] == "%":
        return f"malformed %-escape in {what} at offset {i}"
    return f"{s[i]!r} is not allowed in {what} (offset {i})"


def _scan(regex: re.Pattern[str], s: str, pos: int = 0) -> int:
    """Where ``regex`` stops matching ``s`` from ``pos``."""
    m = regex.match(s, pos)
    assert m is not None  # every pattern here matches the empty string
    return m.end()


def _check(regex: re.Pattern[str], what: str, s: str) -> None:
    end = _scan(regex, s)
    if end != len(s):
        raise ValueError(_refusal(what, s, end))


def _check_scheme(scheme: str) -> None:
    if not _SCHEME_RE.fullmatch(scheme):
        raise ValueError(
            f"invalid scheme {scheme!r}: a letter, then letters, digits, '+', '-' or '.'"
        )


def _check_ip_literal(host: str) -> None:
    """Validate a bracketed host: ``[IPv6]`` or ``[vX.future]`` (libevent's bracket_addr_ok)."""
    if len(host) < 3 or host[0] != "[" or host[-1] != "]":
        raise ValueError(f"invalid IP literal {host!r}: needs '[', an address and ']'")
    inner = host[1:-1]
    if inner[0] == "v":
        if not _IPVFUTURE_RE.fullmatch(inner):
            raise ValueError(f"invalid IPvFuture literal {host!r}")
        return
    # libevent copies the address into a 64-byte buffer before inet_pton.
    if len(inner) >= 64 or not _is_ipv6(inner):
        raise ValueError(f"invalid IPv6 literal {host!r}")


def _is_ipv6(text: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError):  # ValueError: NUL or a character UTF-8 cannot encode
        return False
    return True


def _check_host(host: str) -> None:
    """A host as evhttp_uri_set_host validates it: an IP literal if it starts with '['."""
    if host.startswith("["):
        _check_ip_literal(host)
    else:
        _check(_REGNAME_RE, "host", host)


def _parse_port(digits: str) -> int:
    # int() has a digit limit; a port can hold many leading zeros but no more than
    # five significant digits.
    significant = digits.lstrip("0")
    if len(significant) > 5 or int(significant or "0") > 65535:
        raise ValueError(f"port {digits!r} is out of range")
    return int(significant or "0")


# -- Uri -------------------------------------------------------------------------------


class Uri:
    """An RFC 3986 URI-reference split into components (``struct evhttp_uri``).

    ``None`` marks an absent component; ``host == ""`` (as in ``file:///etc``) is
    present and empty. ``port == -1`` means no port. The parser and setters
    validate but never percent-decode. With EVHTTP_URI_UNIX_SOCKET the authority
    may be ``unix:<socket path>:`` (``http://unix:/run/app.sock:/request/path``):
    ``unixsocket`` is then set and ``host`` is None. Two Uris are equal when their
    components and flags are.
    """

    __slots__ = (
        "_flags",
        "_fragment",
        "_host",
        "_path",
        "_port",
        "_query",
        "_scheme",
        "_unixsocket",
        "_userinfo",
    )

    def __init__(
        self,
        *,
        flags: int = 0,
        scheme: str | None = None,
        userinfo: str | None = None,
        host: str | None = None,
        unixsocket: str | None = None,
        port: int = -1,
        path: str | None = None,
        query: str | None = None,
        fragment: str | None = None,
    ) -> None:
        """An empty URI (``evhttp_uri_new``); keyword components go through the setters."""
        self._flags = flags
        self._scheme: str | None = None
        self._userinfo: str | None = None
        self._host: str | None = None
        self._unixsocket: str | None = None
        self._port = -1
        self._path: str | None = None
        self._query: str | None = None
        self._fragment: str | None = None
        # Assign through the properties so each value is validated with the flags.
        if scheme is not None:
            self.scheme = scheme
        if userinfo is not None:
            self.userinfo = userinfo
        if host is not None:
            self.host = host
        if unixsocket is not None:
            self.unixsocket = unixsocket
        if port != -1:
            self.port = port
        if path is not None:
            self.path = path
        if query is not None:
            self.query = query
        if fragment is not None:
            self.fragment = fragment

    # -- parsing -------------------------------------------------------------------

    @classmethod
    def parse(cls, s: str, flags: int = 0) -> Uri:
        """Parse a URI-reference; ValueError saying what and where on anything libevent
        refuses (``evhttp_uri_parse_with_flags``)."""
        uri = cls(flags=flags)
        try:
            uri._parse(s)
        except ValueError as exc:
            raise ValueError(f"invalid URI {s!r}: {exc}") from None
        return uri

    def _parse(self, s: str) -> None:
        # URI = scheme ":" hier-part [ "?" query ] [ "#" fragment ], or a relative-ref
        # without the scheme. Parts are found left to right; whatever follows the
        # fragment scan must be the end of the string.
        flags = self._flags
        n = len(s)
        pos = 0
        # libevent takes the first ':' in the whole string and keeps it as the scheme
        # separator only if everything before it is a valid scheme.
        colon = s.find(":")
        if colon > 0 and _SCHEME_RE.fullmatch(s, 0, colon):
            self._scheme = s[:colon]
            pos = colon + 1

        got_authority = s.startswith("//", pos)
        if got_authority:
            pos = self._parse_authority(s, pos + 2)

        path_re, query_re, fragment_re = (
            _LAX_SCANNERS if flags & EVHTTP_URI_NONCONFORMANT else _STRICT_SCANNERS
        )
        path_start = pos
        part = "path"
        pos = _scan(path_re, s, pos)
        path = s[path_start:pos]
        if pos < n and s[pos] == "?":
            part = "query"
            start = pos + 1
            pos = _scan(query_re, s, start)
            self._query = s[start:pos]
        if pos < n and s[pos] == "#":
            part = "fragment"
            start = pos + 1
            pos = _scan(fragment_re, s, start)
            self._fragment = s[start:pos]
        if pos != n:
            raise ValueError(_refusal(part, s, pos))

        # An ordinary authority ends at '/', '?', '#' or the end, so this can only
        # fire after the unix-socket form ("unix:/tmp/s:x").
        if got_authority and path and path[0] != "/":
            raise ValueError(f"path {path!r} after an authority must begin with '/'")
        # Without a scheme, "a:b" would read as scheme "a"; RFC 3986 forbids a ':' in
        # the first segment of a relative reference's path.
        if self._scheme is None and ":" in path.partition("/")[0]:
            raise ValueError(f"the first segment of relative path {path!r} contains ':'")
        self._path = path

    def _parse_authority(self, s: str, start: int) -> int:
        """Parse ``[userinfo@]host[:port]`` (or the unix-socket form) from ``start``;
        return where the path begins."""
        unix = self._flags & EVHTTP_URI_UNIX_SOCKET
        # Look for "unix:" before any userinfo: a socket path may hold '@' (Linux
        # abstract sockets are often written "@name"), so "//unix:@name:/" is a socket.
        if unix and s.startswith("unix:", start):
            return self._parse_unixsocket(s, start + 5)
        m = _AUTHORITY_END_RE.search(s, start)
        end = m.start() if m else len(s)
        host_start = start
        at = s.find("@", start, end)
        if at >= 0:
            userinfo = s[start:at]
            _check(_USERINFO_RE, "userinfo", userinfo)
            self._userinfo = userinfo
            host_start = at + 1
        if unix and s.startswith("unix:", host_start):
            return self._parse_unixsocket(s, host_start + 5)

        host = s[host_start:end]
        # The port is the run of digits at the end, if a ':' comes before it; any other
        # ':' is left in the host for the reg-name check to refuse.
        before_digits = host.rstrip(_DIGITS)
        if before_digits.endswith(":"):
            digits = host[len(before_digits) :]
            host = before_digits[:-1]
            # "host:" with no digits is allowed by RFC 3986 and means no port.
            if digits:
                self._port = _parse_port(digits)
        # A '[' opens an IP literal only if the host also ends with ']'; otherwise
        # the reg-name check refuses the bracket.
        if len(host) >= 2 and host[0] == "[" and host[-1] == "]":
            _check_ip_literal(host)
            if self._flags & EVHTTP_URI_HOST_STRIP_BRACKETS:
                host = host[1:-1]
        else:
            _check(_REGNAME_RE, "host", host)
        self._host = host
        return end

    def _parse_unixsocket(self, s: str, start: int) -> int:
        # The socket path holds '/', so it cannot end at the authority's usual end:
        # it runs to the next ':' ("http://unix:/run/app.sock:/request/path").
        colon = s.find(":", start)
        if colon < 0:
            raise ValueError("unix socket path must be closed by ':'")
        if colon == start:
            raise ValueError("unix socket path is empty")
        self._unixsocket = s[start:colon]
        return colon + 1

    # -- joining -------------------------------------------------------------------

    def join(self) -> str:
        """Reassemble the URI, escaping nothing (``evhttp_uri_join``); ValueError where
        libevent returns NULL for the URI itself: a host with a path not starting
        with '/'. libevent also fails when the result outgrows the caller's buffer;
        a Python string has no such limit."""
        out: list[str] = []
        if self._scheme is not None:
            out += (self._scheme, ":")
        if self._host is not None or self._unixsocket is not None:
            out.append("//")
            if self._userinfo is not None:
                out += (self._userinfo, "@")
            if self._unixsocket is not None:
                out += ("unix:", self._unixsocket, ":")
            else:
                out.append(self._joined_host())
                if self._port >= 0:
                    out.append(f":{self._port}")
            path = self._path
            if path and path[0] != "/":
                raise ValueError(f"cannot join host and relative path {path!r}")
        # Like libevent, the port and userinfo are dropped when there is no host.
        if self._path is not None:
            out.append(self._path)
        if self._query is not None:
            out += ("?", self._query)
        if self._fragment is not None:
            out += ("#", self._fragment)
        return "".join(out)

    def _joined_host(self) -> str:
        host = self._host
        assert host is not None
        # A reg-name never holds ':', so a stripped host with one was an IP literal.
        if self._flags & EVHTTP_URI_HOST_STRIP_BRACKETS and ":" in host:
            return f"[{host}]"
        return host

    def __str__(self) -> str:
        return self.join()

    # -- flags ---------------------------------------------------------------------

    @property
    def flags(self) -> int:
        """The ``EVHTTP_URI_*`` flags the setters and ``join`` apply."""
        return self._flags

    @flags.setter
    def flags(self, flags: int) -> None:
        self._flags = flags

    def set_flags(self, flags: int) -> None:
        """Replace the flags; components already set are not re-checked
        (``evhttp_uri_set_flags``)."""
        self._flags = flags

    # -- components ----------------------------------------------------------------

    @property
    def scheme(self) -> str | None:
        """The scheme without ':', or None (``evhttp_uri_get_scheme`` / ``_set_scheme``)."""
        return self._scheme

    @scheme.setter
    def scheme(self, scheme: str | None) -> None:
        if scheme is not None:
            _check_scheme(scheme)
        self._scheme = scheme

    @property
    def userinfo(self) -> str | None:
        """The userinfo without '@', or None (``evhttp_uri_get_userinfo`` / ``_set_``)."""
        return self._userinfo

    @userinfo.setter
    def userinfo(self, userinfo: str | None) -> None:
        if userinfo is not None:
            _check(_USERINFO_RE, "userinfo", userinfo)
        self._userinfo = userinfo

    @property
    def host(self) -> str | None:
        """The host, brackets kept on IP literals unless HOST_STRIP_BRACKETS, or None
        (``evhttp_uri_get_host`` / ``_set_host``)."""
        return self._host

    @host.setter
    def host(self, host: str | None) -> None:
        if host is not None and self._flags & EVHTTP_URI_HOST_STRIP_BRACKETS:
            host = _strip_host(host)
        elif host is not None:
            _check_host(host)
        self._host = host

    @property
    def unixsocket(self) -> str | None:
        """The socket path of the UNIX_SOCKET form, or None (``evhttp_uri_get_unixsocket``).

        The parser takes the path up to the next ':' after ``unix:``, which may come
        right after ``//`` or after a userinfo (so a userinfo that itself starts
        with ``unix:`` reads as a socket under this flag). The setter refuses an
        empty path, ':' (it would end the path when parsed) and NUL.
        """
        return self._unixsocket

    @unixsocket.setter
    def unixsocket(self, path: str | None) -> None:
        if path is not None and (not path or ":" in path or "\0" in path):
            raise ValueError(f"invalid unix socket path {path!r}: empty, or holds ':' or NUL")
        self._unixsocket = path

    @property
    def port(self) -> int:
        """The port, or -1 for none (``evhttp_uri_get_port`` / ``_set_port``)."""
        return self._port

    @port.setter
    def port(self, port: int) -> None:
        # libevent refuses only ports below -1; levent also refuses ports above
        # 65535, which libevent's own parser would refuse after a join.
        if not -1 <= port <= 65535:
            raise ValueError(f"port {port} is out of range (-1 for none, or 0..65535)")
        self._port = port

    @property
    def path(self) -> str | None:
        """The path (parsed URIs always have one, maybe ""), or None
        (``evhttp_uri_get_path`` / ``_set_path``)."""
        return self._path

    @path.setter
    def path(self, path: str | None) -> None:
        if path is not None:
            lax = self._flags & EVHTTP_URI_NONCONFORMANT
            _check(_LAX_PATH_RE if lax else _PATH_RE, "path", path)
        self._path = path

    @property
    def query(self) -> str | None:
        """The query without '?', still encoded, or None (``evhttp_uri_get_query`` / ``_set_``)."""
        return self._query

    @query.setter
    def query(self, query: str | None) -> None:
        if query is not None:
            lax = self._flags & EVHTTP_URI_NONCONFORMANT
            _check(_LAX_QUERY_RE if lax else _QUERY_RE, "query", query)
        self._query = query

    @property
    def fragment(self) -> str | None:
        """The fragment without '#', or None (``evhttp_uri_get_fragment`` / ``_set_``)."""
        return self._fragment

    @fragment.setter
    def fragment(self, fragment: str | None) -> None:
        if fragment is not None:
            lax = self._flags & EVHTTP_URI_NONCONFORMANT
            _check(_LAX_FRAGMENT_RE if lax else _QUERY_RE, "fragment", fragment)
        self._fragment = fragment

    # -- value protocol ------------------------------------------------------------

    def _key(self) -> tuple[object, ...]:
        return (
            self._flags,
            self._scheme,
            self._userinfo,
            self._host,
            self._unixsocket,
            self._port,
            self._path,
            self._query,
            self._fragment,
        )

    def __eq__(self, other: object) -> bool:
        """Equal when every component and the flags are equal."""
        if isinstance(other, Uri):
            return self._key() == other._key()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        fields = [f"flags={self._flags:#x}"] if self._flags else []
        for name in ("scheme", "userinfo", "host", "unixsocket"):
            value = getattr(self, name)
            if value is not None:
                fields.append(f"{name}={value!r}")
        if self._port != -1:
            fields.append(f"port={self._port}")
        for name in ("path", "query", "fragment"):
            value = getattr(self, name)
            if value is not None:
                fields.append(f"{name}={value!r}")
        return f"Uri({', '.join(fields)})"


def _strip_host(host: str) -> str:
    """Validate a host under HOST_STRIP_BRACKETS and return it as stored: without brackets.

    libevent strips the brackets of a bracketed host; levent also accepts the
    stripped form back (a host holding ':'), so ``u.host = u.host`` always works.
    """
    if host.startswith("["):
        _check_ip_literal(host)
        return host[1:-1]
    if ":" in host:
        _check_ip_literal(f"[{host}]")
        return host
    _check(_REGNAME_RE, "host", host)
    return host


# -- percent-encoding --------------------------------------------------------------------

# One output string per byte value: unreserved bytes stand for themselves, the rest
# become %XX with upper-case hex. Encoding maps the table over the bytes in C.
_UNRESERVED_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ENCODE = tuple(chr(b) if b in _UNRESERVED_BYTES else f"%{b:02X}" for b in range(256))
_ENCODE_PLUS = tuple("+" if b == 0x20 else e for b, e in enumerate(_ENCODE))
_ALL_UNRESERVED = re.compile(b"[A-Za-z0-9\\-._~]*")


def uriencode(s: str | bytes, space_to_plus: bool = False) -> str:
    """Percent-encode every byte but ALPHA, DIGIT and ``-._~``, with upper-case hex; a
    space becomes '+' if ``space_to_plus`` (``evhttp_uriencode``).

    ``bytes`` are encoded exactly, NUL included; a ``str`` is first encoded as UTF-8
    with ``surrogateescape`` (so ``uridecode``'s escaped bytes come back as they were).
    """
    data = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s
    if _ALL_UNRESERVED.fullmatch(data):
        return data.decode("ascii")
    table = _ENCODE_PLUS if space_to_plus else _ENCODE
    return "".join(map(table.__getitem__, data))


def encode_uri(s: str) -> str:
    """``uriencode(s)`` without the '+' option (``evhttp_encode_uri``)."""
    return uriencode(s)


# A run of consecutive escapes is decoded as one byte string, so a multi-byte UTF-8
# character spread over several escapes becomes one character.
_ESCAPE_RUN = re.compile(f"(?:%[{_HEX}]{{2}})+")
_ESCAPE_RUN_BYTES = re.compile(f"(?:%[{_HEX}]{{2}})+".encode())


def _decode_run(m: re.Match[str]) -> str:
    return bytes.fromhex(m.group().replace("%", "")).decode("utf-8", "surrogateescape")


def _decode_run_bytes(m: re.Match[bytes]) -> bytes:
    return bytes.fromhex(m.group().replace(b"%", b"").decode("ascii"))


def uridecode(s: str, decode_plus: bool = False) -> str:
    """Decode ``%XX`` escapes (either case; a malformed one is kept as it is), and '+' to
    space if ``decode_plus`` (``evhttp_uridecode``).

    Each run of consecutive escapes becomes its bytes decoded as UTF-8 with
    ``surrogateescape`` (``%C3%A9`` is ``é``; a stray ``%FF`` is ``'\\udcff'``, which
    ``uriencode`` turns back into ``%FF``); characters outside escapes are kept as
    they are. Never raises. :func:`uridecode_bytes` gives libevent's exact bytes.
    """
    if decode_plus:
        # Safe before unescaping: '+' is never part of an escape, and a '+' that an
        # escape produces ("%2B") must stay a '+'.
        s = s.replace("+", " ")
    if "%" not in s:
        return s
    return _ESCAPE_RUN.sub(_decode_run, s)


def uridecode_bytes(s: str | bytes, decode_plus: bool = False) -> bytes:
    """As :func:`uridecode`, returning the decoded bytes, NULs included (``evhttp_uridecode``
    with ``size_out``); a ``str`` is first encoded as UTF-8 with ``surrogateescape``."""
    data = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s
    if decode_plus:
        data = data.replace(b"+", b" ")
    if b"%" not in data:
        return data
    return _ESCAPE_RUN_BYTES.sub(_decode_run_bytes, data)


def decode_uri(s: str) -> str:
    """Decode escapes, and '+' to space only after the first '?' (deprecated
    ``evhttp_decode_uri``)."""
    # Only a literal '?' switches '+' decoding on; an escaped "%3F" does not.
    head, mark, tail = s.partition("?")
    if mark:
        s = head + mark + tail.replace("+", " ")
    return uridecode(s)


# -- queries ----------------------------------------------------------------------------


def parse_query_str(query: str, flags: int = 0) -> Headers:
    """Split ``k=v&k2=v2`` into Headers, values decoded with '+' as space, keys as given
    (``evhttp_parse_query_str`` / ``_flags``).

    ValueError for a parameter without '=' or with an empty key, unless
    EVHTTP_URI_QUERY_NONCONFORMANT (then the value is "" and an empty key is
    skipped). With EVHTTP_URI_QUERY_LAST_VAL only the last value of a key (ASCII
    case-insensitive) is kept, at the position of that last occurrence. A decoded
    value keeps an escaped NUL, where libevent's C string would end at it.
    """
    pairs: list[tuple[str, str]] = []
    if query:
        lenient = flags & EVHTTP_URI_QUERY_NONCONFORMANT
        parts = query.split("&")
        # libevent stops once nothing follows an '&', so one trailing '&' is harmless.
        if not parts[-1]:
            parts.pop()
        for index, part in enumerate(parts):
            key, eq, value = part.partition("=")
            if not eq or not key:
                if not lenient:
                    problem = "has no '='" if not eq else "has an empty name"
                    raise ValueError(f"invalid query {query!r}: parameter {index} {problem}")
                if not key:
                    continue
            pairs.append((key, uridecode(value, True)))
        if flags & EVHTTP_URI_QUERY_LAST_VAL:
            pairs = _last_values(pairs)
    headers = Headers()
    for key, value in pairs:
        # Keys and values may hold CR/LF ("%0A"): libevent adds them unchecked.
        headers._append(key, value)
    return headers


def _last_values(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # Same result as libevent's remove-then-append per parameter, in O(n) rather
    # than O(n^2) for a query with many parameters.
    seen: set[str] = set()
    kept: list[tuple[str, str]] = []
    for key, value in reversed(pairs):
        low = key.lower()
        if low not in seen:
            seen.add(low)
            kept.append((key, value))
    kept.reverse()
    return kept


def parse_query(uri: str) -> Headers:
    """The query of a whole URI as Headers (deprecated ``evhttp_parse_query``); ValueError
    if the URI or its query does not parse."""
    query = Uri.parse(uri).query
    return parse_query_str(query or "")


# -- HTML -------------------------------------------------------------------------------

_HTML_ESCAPES = str.maketrans(
    {"<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#039;", "&": "&amp;"}
)


def htmlescape(s: str) -> str:
    """Escape ``< > " ' &`` as ``&lt; &gt; &quot; &#039; &amp;`` (``evhttp_htmlescape``)."""
    return s.translate(_HTML_ESCAPES)
