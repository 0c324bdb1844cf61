"""CPython's asyncio test modules for streams, TLS, servers, start_tls and
subprocesses, run with levent's loop as the default loop (``asyncio.new_event_loop``
goes through levent's policy; the tests that name a loop class get levent's).

Tests levent's loop does not pass are listed in ``EXCLUDED`` with the reason
(``docs/aio.md`` repeats them).
"""

from __future__ import annotations

import asyncio
import unittest
from typing import Any

import pytest

import levent.aio

test_streams = pytest.importorskip("test.test_asyncio.test_streams")
test_ssl = pytest.importorskip("test.test_asyncio.test_ssl")
test_server = pytest.importorskip("test.test_asyncio.test_server")
test_sslproto = pytest.importorskip("test.test_asyncio.test_sslproto")
test_subprocess = pytest.importorskip("test.test_asyncio.test_subprocess")

#: "Class.test_name" -> why levent's loop does not run it.
EXCLUDED: dict[str, str] = {}


def _on_levent(cls: type, name: str) -> type:
    """``cls`` with levent's policy installed around each test."""

    def setUp(self: Any) -> None:
        asyncio.set_event_loop_policy(levent.aio.EventLoopPolicy())
        cls.setUp(self)

    def tearDown(self: Any) -> None:
        try:
            cls.tearDown(self)
        finally:
            asyncio.set_event_loop_policy(None)

    def new_loop(self: Any) -> asyncio.AbstractEventLoop:
        return levent.aio.new_event_loop()

    namespace: dict[str, Any] = {"setUp": setUp, "tearDown": tearDown}
    if hasattr(cls, "new_loop"):
        namespace["new_loop"] = new_loop
    bound = type(name, (cls,), namespace)
    for key, reason in EXCLUDED.items():
        owner, _, test = key.partition(".")
        if owner == cls.__name__ and hasattr(bound, test):
            setattr(bound, test, unittest.skip(reason)(getattr(bound, test)))
    return bound


LeventStreamTests = _on_levent(test_streams.StreamTests, "LeventStreamTests")
LeventSSLTests = _on_levent(test_ssl.TestSSL, "LeventSSLTests")
LeventStartServerTests = _on_levent(test_server.SelectorStartServerTests, "LeventStartServerTests")
LeventSslProtoHandshakeTests = _on_levent(
    test_sslproto.SslProtoHandshakeTests, "LeventSslProtoHandshakeTests"
)
LeventStartTLSTests = _on_levent(test_sslproto.SelectorStartTLSTests, "LeventStartTLSTests")
LeventSubprocessTests = _on_levent(
    test_subprocess.SubprocessPidfdWatcherTests
    if hasattr(test_subprocess, "SubprocessPidfdWatcherTests")
    else test_subprocess.SubprocessThreadedWatcherTests,
    "LeventSubprocessTests",
)
