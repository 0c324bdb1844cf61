"""levent's resolver configuration against the real libevent 2.1 (through ctypes).

``evdns_base_set_option`` acceptance (reference item 136, for the options 2.1 knows)
and ``evdns_base_resolv_conf_parse`` outcomes (return code, nameserver count)
must be the same. Skipped when the C library is not installed.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from libevent_ctypes import load

from levent import EventBase
from levent.dns.constants import DNS_OPTION_MISC, DNS_OPTION_NAMESERVERS, DNS_OPTION_SEARCH
from levent.dns.resolver import DnsBase


class CDns:
    def __init__(self) -> None:
        lib = load()
        vp, cp, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        lib.event_base_new.restype = vp
        lib.event_base_free.argtypes = [vp]
        lib.evdns_base_new.restype = vp
        lib.evdns_base_new.argtypes = [vp, i]
        lib.evdns_base_free.argtypes = [vp, i]
        lib.evdns_base_set_option.argtypes = [vp, cp, cp]
        lib.evdns_base_set_option.restype = i
        lib.evdns_base_resolv_conf_parse.argtypes = [vp, i, cp]
        lib.evdns_base_resolv_conf_parse.restype = i
        lib.evdns_base_count_nameservers.argtypes = [vp]
        lib.evdns_base_count_nameservers.restype = i
        self.lib = lib
        self.base = lib.event_base_new()

    def new(self) -> int:
        dnsb = self.lib.evdns_base_new(self.base, 0)
        assert dnsb
        return int(dnsb)

    def close(self) -> None:
        self.lib.event_base_free(self.base)


@pytest.fixture(scope="module")
def c() -> Iterator[CDns]:
    lib = CDns()
    yield lib
    lib.close()


OPTIONS_2_1 = [
    "ndots",
    "timeout",
    "max-timeouts",
    "max-inflight",
    "attempts",
    "randomize-case",
    "bind-to",
    "initial-probe-timeout",
    "getaddrinfo-allow-skew",
    "so-rcvbuf",
    "so-sndbuf",
    "no-such-option",
]
VALUES = [
    "0",
    "1",
    "10000",
    "foo",
    "3.14",
    "0.001",
    "",
    "-1",
    "-5",
    " 7",
    "1e2",
    "8.8.8.8:80",
    "1.2.3.4",
    "::1:82",
    "3::4",
    "[::1]:53",
    "0.0009",
]


def _levent_accepts(dnsb: DnsBase, name: str, value: str) -> bool:
    try:
        dnsb.set_option(name, value)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", OPTIONS_2_1)
def test_set_option_acceptance_matches_libevent(c: CDns, name: str) -> None:
    base = EventBase()
    ours = DnsBase(base, 0)
    theirs = c.new()
    try:
        for spelling in (name, name + ":"):
            for value in VALUES:
                expected = c.lib.evdns_base_set_option(theirs, spelling.encode(), value.encode())
                assert _levent_accepts(ours, spelling, value) == (expected == 0), (spelling, value)
    finally:
        c.lib.evdns_base_free(theirs, 0)
        ours.free()
        base.free()


CONF_CASES = {
    "two servers": "nameserver 127.0.0.1\nnameserver 127.0.0.2\n",
    "ports and v6": "nameserver 127.0.0.1:5353\nnameserver [::1]:53\nnameserver ::1\n",
    "duplicates and junk": "nameserver 127.0.0.1\nnameserver 127.0.0.1\nnameserver foo\nbogus\n",
    "no servers": "search example.com\noptions ndots:3 timeout:2 rotate\n",
    "empty": "",
    "no newline at end": "nameserver 127.0.0.9",
    "options only": "options attempts:2 max-timeouts:0 bind-to:foo\n",
}
FLAG_SETS = [
    DNS_OPTION_NAMESERVERS,
    DNS_OPTION_NAMESERVERS | DNS_OPTION_MISC,
    DNS_OPTION_SEARCH | DNS_OPTION_MISC,
]


@pytest.mark.parametrize("case", sorted(CONF_CASES))
def test_resolv_conf_parse_matches_libevent(c: CDns, tmp_path: Path, case: str) -> None:
    path = tmp_path / "resolv.conf"
    path.write_text(CONF_CASES[case])
    base = EventBase()
    try:
        for flags in FLAG_SETS:
            ours = DnsBase(base, 0)
            theirs = c.new()
            code = c.lib.evdns_base_resolv_conf_parse(theirs, int(flags), str(path).encode())
            assert ours.resolv_conf_parse(flags, str(path)) == code, flags
            assert ours.count_nameservers() == c.lib.evdns_base_count_nameservers(theirs)
            c.lib.evdns_base_free(theirs, 0)
            ours.free()
    finally:
        base.free()


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_resolv_conf_parse_failures_match_libevent(c: CDns, tmp_path: Path, kind: str) -> None:
    path = str(tmp_path / "missing") if kind == "missing" else str(tmp_path)
    base = EventBase()
    ours = DnsBase(base, 0)
    theirs = c.new()
    try:
        flags = int(DNS_OPTION_NAMESERVERS)
        assert ours.resolv_conf_parse(flags, path) == c.lib.evdns_base_resolv_conf_parse(
            theirs, flags, path.encode()
        )
        assert ours.count_nameservers() == c.lib.evdns_base_count_nameservers(theirs)
    finally:
        c.lib.evdns_base_free(theirs, 0)
        ours.free()
        base.free()
    assert os.path.exists(str(tmp_path))
