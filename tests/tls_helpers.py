"""Certificates and contexts for TLS tests, made fresh for the test run with ``trustme``.

Verification is never turned off: clients trust the test CA (or, to test
failures, another CA) and check the ``localhost`` hostname as in production.
"""

from __future__ import annotations

import functools
import ssl

import trustme
from loop_helpers import run_until

__all__ = ["client_context", "run_until", "server_context", "untrusting_client_context"]

HOSTNAME = "localhost"


@functools.cache
def _ca() -> trustme.CA:
    return trustme.CA()


@functools.cache
def _other_ca() -> trustme.CA:
    return trustme.CA()


@functools.cache
def server_context() -> ssl.SSLContext:
    """A server context presenting a ``localhost`` certificate signed by the test CA."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _ca().issue_cert(HOSTNAME, "127.0.0.1").configure_cert(ctx)
    return ctx


@functools.cache
def client_context() -> ssl.SSLContext:
    """A client context that trusts the test CA and checks hostnames (the defaults)."""
    ctx = ssl.create_default_context()
    _ca().configure_trust(ctx)
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    return ctx


@functools.cache
def untrusting_client_context() -> ssl.SSLContext:
    """A client context that trusts a different CA only: the server's chain is unknown to it."""
    ctx = ssl.create_default_context()
    _other_ca().configure_trust(ctx)
    return ctx
