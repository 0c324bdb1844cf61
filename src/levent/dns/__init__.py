"""levent.dns: libevent's evdns — an asynchronous resolver and a DNS server on the loop.

``DnsBase`` (``evdns_base``) resolves names without blocking the loop: UDP with
retransmission and nameserver failover, TCP on truncation, 0x20 case
randomisation, search domains, the hosts file, ``getaddrinfo`` and a cache.
``DnsServerPort`` (``evdns_server_port``) answers DNS queries over UDP and TCP.
Messages are read and written by levent's own small codec (``wire.py`` and the
server's name reader), checked against dnspython in the tests; see
docs/guide/10-dns.md for why not dnspython on the hot path.
"""

from __future__ import annotations

from .cache import AddrInfo
from .constants import *  # noqa: F403
from .constants import __all__ as _constants_all
from .getaddrinfo import AddrInfoHints, GetAddrInfoCallback, GetAddrInfoRequest
from .resolver import DnsBase, DnsRequest, ResolveCallback, set_log_fn
from .server import (
    DEFAULT_TCP_IDLE_TIMEOUT,
    DEFAULT_TCP_MAX_CLIENTS,
    DnsServerPort,
    RequestCallback,
    ServerQuestion,
    ServerRequest,
)

__all__ = [
    *_constants_all,
    "DEFAULT_TCP_IDLE_TIMEOUT",
    "DEFAULT_TCP_MAX_CLIENTS",
    "AddrInfo",
    "AddrInfoHints",
    "DnsBase",
    "DnsRequest",
    "DnsServerPort",
    "GetAddrInfoCallback",
    "GetAddrInfoRequest",
    "RequestCallback",
    "ResolveCallback",
    "ServerQuestion",
    "ServerRequest",
    "set_log_fn",
]
