"""levent.dns: libevent's evdns — an asynchronous resolver and a DNS server on the loop.

``DnsBase`` (``evdns_base``) resolves names without blocking the loop;
``DnsServerPort`` (``evdns_server_port``) answers DNS queries over UDP and TCP.
The wire format is dnspython's (DESIGN.md §4); nameserver choice, retries,
timeouts, search domains, the hosts file and the cache are levent's own.
"""

from __future__ import annotations

from .constants import *  # noqa: F403
from .constants import __all__ as _constants_all

__all__ = [*_constants_all]
