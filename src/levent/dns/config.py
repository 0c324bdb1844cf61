"""The resolver's configuration, pure: options, search list, resolv.conf, hosts file.

Everything here is testable without a loop or a socket. :class:`ResolverOptions`
holds the values ``evdns_base_set_option`` sets, and :func:`apply_option`
validates a ``name``/``value`` pair exactly as ``evdns_base_set_option_impl``
does (including C's ``strtol``/``strtod`` rules, clipping and the
per-option ``DNS_OPTION_*`` gate). :class:`SearchList` expands a name into the
names to try (``search_request_new`` / ``search_try_next``);
:func:`probe_delay` is the probe back-off of ``nameserver_probe_failed``;
:func:`parse_resolv_conf` and :func:`parse_hosts` split the two files into
directives the resolver then applies.
"""

from __future__ import annotations

import re
import socket
from typing import Final

from ..util import parse_sockaddr_port
from .constants import DNS_OPTION

__all__ = [
    "ResolverOptions",
    "SearchList",
    "apply_option",
    "option_matches",
    "parse_hosts",
    "parse_int",
    "parse_resolv_conf",
    "parse_seconds",
    "probe_delay",
]

#: libevent's defaults (``evdns_base_new``).
DEFAULT_TIMEOUT: Final = 5.0
DEFAULT_ATTEMPTS: Final = 3
DEFAULT_MAX_TIMEOUTS: Final = 3
DEFAULT_MAX_INFLIGHT: Final = 64
DEFAULT_MAX_REISSUES: Final = 1
DEFAULT_PROBE_TIMEOUT: Final = 10.0
DEFAULT_MAX_PROBE_TIMEOUT: Final = 3600
DEFAULT_BACKOFF: Final = 3
DEFAULT_SKEW: Final = 3.0
DEFAULT_TCP_IDLE: Final = 5.0
DNS_MAX_UDP_SIZE: Final = 512
EDNS_MAX_UDP_SIZE: Final = 65535

_INT_RE: Final = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]*)")
_FLOAT_RE: Final = re.compile(
    r"[ \t\n\v\f\r]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
)
_LONG_MAX: Final = (1 << 63) - 1


class ResolverOptions:
    """The tunables of one resolver, with libevent's defaults."""

    __slots__ = (
        "attempts",
        "backoff_factor",
        "bind_to",
        "edns_udp_size",
        "getaddrinfo_skew",
        "ignore_tc",
        "initial_probe_timeout",
        "max_inflight",
        "max_probe_timeout",
        "max_reissues",
        "max_timeouts",
        "ndots",
        "randomize_case",
        "so_rcvbuf",
        "so_sndbuf",
        "tcp_idle_timeout",
        "timeout",
        "use_vc",
    )

    def __init__(self) -> None:
        self.timeout = DEFAULT_TIMEOUT
        self.attempts = DEFAULT_ATTEMPTS
        self.max_timeouts = DEFAULT_MAX_TIMEOUTS
        self.max_inflight = DEFAULT_MAX_INFLIGHT
        self.max_reissues = DEFAULT_MAX_REISSUES
        self.ndots = 1
        self.randomize_case = True
        self.bind_to: tuple[str, int] | tuple[str, int, int, int] | None = None
        self.initial_probe_timeout = DEFAULT_PROBE_TIMEOUT
        self.max_probe_timeout = DEFAULT_MAX_PROBE_TIMEOUT
        self.backoff_factor = DEFAULT_BACKOFF
        self.getaddrinfo_skew = DEFAULT_SKEW
        self.so_rcvbuf = 0
        self.so_sndbuf = 0
        self.tcp_idle_timeout = DEFAULT_TCP_IDLE
        self.use_vc = False
        self.ignore_tc = False
        self.edns_udp_size = DNS_MAX_UDP_SIZE


def parse_int(value: str | None) -> int:
    """C's ``strtoint``: ``strtol(value, 10)`` consuming the whole string, as an ``int``.

    Leading whitespace and a sign are accepted, the empty string is 0, and a
    result of -1 is the error value, as in libevent. ValueError otherwise.
    """
    if value is None:
        raise ValueError("this option needs a value")
    m = _INT_RE.match(value)
    if m is None or m.end() != len(value):
        raise ValueError(f"not an integer: {value!r}")
    sign, digits = m.groups()
    number = int(digits) if digits else 0
    number = min(number, _LONG_MAX + (1 if sign == "-" else 0))
    if sign == "-":
        number = -number
    # The long is then stored in an int: keep the low 32 bits, signed.
    number &= 0xFFFFFFFF
    if number >= 1 << 31:
        number -= 1 << 32
    if number == -1:
        raise ValueError(f"not an acceptable integer: {value!r}")
    return number


def parse_int_clipped(value: str | None, low: int, high: int) -> int:
    """``strtoint_clipped``: :func:`parse_int`, then clipped to ``[low, high]``."""
    return min(max(parse_int(value), low), high)


def parse_seconds(value: str | None) -> float:
    """``evdns_strtotimeval``: a non-negative decimal number of seconds, at least 1 ms.

    Microseconds are truncated as ``tv_usec`` truncates them.
    """
    if value is None:
        raise ValueError("this option needs a number of seconds")
    if _FLOAT_RE.fullmatch(value) is None:
        # strtod of "" consumes nothing and yields 0, which is then too small.
        raise ValueError(f"not a number of seconds: {value!r}")
    number = float(value)
    if number < 0:
        raise ValueError(f"negative number of seconds: {value!r}")
    seconds = int(min(number, 1e9))
    usec = int((number - seconds) * 1000000) if number < 1e9 else 0
    if seconds == 0 and usec < 1000:
        raise ValueError(f"less than a millisecond: {value!r}")
    return seconds + usec / 1e6


def option_matches(given: str, option: str) -> bool:
    """``str_matches_option``: ``given`` names ``option`` (``ndots``, ``ndots:``, ``ndots:3``)."""
    return given == option or given == option + ":" or given.startswith(option + ":")


def apply_option(opts: ResolverOptions, name: str, value: str | None, flags: int) -> bool:
    """Validate and set one option; False for a name libevent does not know.

    ``flags`` are the ``DNS_OPTION_*`` parts allowed to change (all, from
    ``set_option``; the caller's, from resolv.conf): as in libevent the value is
    validated first, then an option outside ``flags`` is left alone. ``ndots``
    is not set here (it lives in the search list): see :func:`ndots_option`.
    """
    misc = bool(flags & DNS_OPTION.MISC)
    if option_matches(name, "timeout"):
        seconds = parse_seconds(value)
        if misc:
            opts.timeout = seconds
    elif option_matches(name, "getaddrinfo-allow-skew"):
        seconds = parse_seconds(value)
        if misc:
            opts.getaddrinfo_skew = seconds
    elif option_matches(name, "max-timeouts"):
        number = parse_int_clipped(value, 1, 255)
        if misc:
            opts.max_timeouts = number
    elif option_matches(name, "max-inflight"):
        number = parse_int_clipped(value, 1, 65000)
        if misc:
            opts.max_inflight = number
    elif option_matches(name, "attempts"):
        number = min(parse_int(value), 255)
        if misc:
            opts.attempts = number
    elif option_matches(name, "randomize-case"):
        number = parse_int(value)
        if misc:
            opts.randomize_case = number != 0
    elif option_matches(name, "bind-to"):
        if flags & DNS_OPTION.NAMESERVERS:
            if value is None:
                raise ValueError("bind-to needs an address")
            opts.bind_to = parse_sockaddr_port(value)
    elif option_matches(name, "initial-probe-timeout"):
        seconds = parse_seconds(value)
        if seconds >= 3601:
            seconds = 3600 + seconds % 1  # tv_sec is capped, tv_usec kept
        if misc:
            opts.initial_probe_timeout = seconds
    else:
        return _apply_option_2_2(opts, name, value, misc)
    return True


def _apply_option_2_2(opts: ResolverOptions, name: str, value: str | None, misc: bool) -> bool:
    """The options libevent 2.2 added (and the socket buffer sizes)."""
    if option_matches(name, "max-probe-timeout"):
        number = parse_int_clipped(value, 1, 3600)
        if misc:
            opts.max_probe_timeout = number
            if int(opts.initial_probe_timeout) > number:
                opts.initial_probe_timeout = float(number)
    elif option_matches(name, "probe-backoff-factor"):
        number = parse_int_clipped(value, 1, 10)
        if misc:
            opts.backoff_factor = number
    elif option_matches(name, "so-rcvbuf"):
        number = parse_int(value)
        if misc:
            opts.so_rcvbuf = number
    elif option_matches(name, "so-sndbuf"):
        number = parse_int(value)
        if misc:
            opts.so_sndbuf = number
    elif option_matches(name, "tcp-idle-timeout"):
        seconds = parse_seconds(value)
        if misc:
            opts.tcp_idle_timeout = seconds
    elif option_matches(name, "use-vc") or option_matches(name, "ignore-tc"):
        # In libevent the gate comes first here, then the value must be absent.
        if misc:
            if value:
                raise ValueError(f"option {name!r} takes no value")
            if option_matches(name, "use-vc"):
                opts.use_vc = True
            else:
                opts.ignore_tc = True
    elif option_matches(name, "edns-udp-size"):
        number = parse_int_clipped(value, DNS_MAX_UDP_SIZE, EDNS_MAX_UDP_SIZE)
        if misc:
            opts.edns_udp_size = number
    else:
        return False
    return True


def ndots_option(name: str, value: str | None) -> int | None:
    """The ndots value if ``name`` is the ndots option (validated), else None."""
    if option_matches(name, "ndots"):
        return parse_int(value)
    return None


def probe_delay(initial: float, factor: int, maximum: int, failed_times: int) -> float:
    """Seconds until the next probe of a down server (``nameserver_probe_failed``).

    The first probe waits ``initial``; each failed probe multiplies the wait by
    ``factor``, capped at ``maximum`` seconds.
    """
    delay = initial
    for _ in range(failed_times):
        if delay >= maximum:
            break
        delay *= factor
    # As in C, the cap looks at whole seconds only (tv_sec).
    return float(maximum) if int(delay) > maximum else delay


class SearchList:
    """Search domains and ndots (libevent's ``search_state``).

    :meth:`candidates` lists the names a lookup tries, in order: a name with
    at least ``ndots`` dots is tried as given first, then with each domain
    appended; a name with fewer dots tries the domains first and itself last.
    An absolute name (trailing dot) is never searched.
    """

    __slots__ = ("domains", "ndots")

    def __init__(self) -> None:
        self.domains: list[str] = []
        self.ndots = 1

    def add(self, domain: str) -> None:
        """``evdns_base_search_add``: leading dots are dropped."""
        domain = domain.lstrip(".")
        if domain:
            self.domains.append(domain)

    def clear(self) -> None:
        """``evdns_base_search_clear``: no domains (ndots back to 1)."""
        self.domains = []
        self.ndots = 1

    def candidates(self, name: str) -> list[str]:
        """The names to try for ``name``, in order."""
        if not self.domains or name.endswith("."):
            return [name]
        searched = [f"{name}.{domain.rstrip('.')}" for domain in self.domains]
        if name.count(".") >= self.ndots:
            return [name, *searched]
        return [*searched, name]


def domain_from_hostname() -> str | None:
    """The domain part of ``gethostname()`` (``search_set_from_hostname``), if any."""
    hostname = socket.gethostname()
    _, dot, domain = hostname.partition(".")
    return domain if dot and domain else None


_DELIMS: Final = re.compile(r"[ \t]+")


def _tokens(line: str) -> list[str]:
    # libevent splits on spaces and tabs only; a stray CR (a file from Windows)
    # would end up inside the last token, so it is dropped here.
    return [t for t in _DELIMS.split(line.rstrip("\r")) if t]


def parse_resolv_conf(text: str) -> list[tuple[str, list[str]]]:
    """The directives of a resolv.conf, in order: ``("nameserver", [addr])``,
    ``("domain", [d])``, ``("search", [d1, …])``, ``("options", [opt, …])``.

    Everything else (``sortlist``, comments, unknown keywords) is ignored, as
    ``resolv_conf_parse_line`` ignores it. Options such as ``rotate`` or
    ``inet6`` reach the option table, which does not know them.
    """
    out: list[tuple[str, list[str]]] = []
    for line in text.split("\n"):
        tokens = _tokens(line)
        if not tokens:
            continue
        keyword, args = tokens[0], tokens[1:]
        if keyword in ("nameserver", "domain"):
            if args:
                out.append((keyword, args[:1]))
        elif keyword in ("search", "options"):
            out.append((keyword, args))
    return out


def parse_hosts(text: str) -> list[tuple[str, int, str]]:
    """``(hostname, family, address)`` for each name of each valid hosts-file line.

    A line is ``address name [name…] [# comment]``; the address must be
    numeric, without a port. Bad lines are skipped (``evdns_base_parse_hosts_line``).
    """
    out: list[tuple[str, int, str]] = []
    for line in text.split("\n"):
        tokens = _tokens(line)
        if not tokens or tokens[0].startswith("#"):
            continue
        try:
            addr = parse_sockaddr_port(tokens[0])
        except ValueError:
            continue
        if addr[1]:
            continue
        family = int(socket.AF_INET6 if len(addr) == 4 else socket.AF_INET)
        for name in tokens[1:]:
            name, hash_mark, _ = name.partition("#")
            if name:
                out.append((name, family, addr[0]))
            if hash_mark:
                break
    return out
