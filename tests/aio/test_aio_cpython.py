"""CPython's own event-loop test mixins, bound to levent's loop as CPython binds its
selector loops (``test.test_asyncio``, shipped with Python 3.11).

Every test of the mixins runs; the ones levent does not pass are listed in
``EXCLUDED`` with the reason, and ``docs/aio.md`` says the same.
"""

from __future__ import annotations

import asyncio
import unittest
from typing import Any

import pytest

test_events = pytest.importorskip("test.test_asyncio.test_events")
test_sock_lowlevel = pytest.importorskip("test.test_asyncio.test_sock_lowlevel")
test_sendfile = pytest.importorskip("test.test_asyncio.test_sendfile")
test_utils = pytest.importorskip("test.test_asyncio.utils")

from levent.aio import EventLoop  # noqa: E402

#: test name -> why levent's loop does not run it.
EXCLUDED: dict[str, str] = {
    "test_timeout_rounding": (
        "counts calls of BaseEventLoop._run_once and reads loop._selector; levent's loop"
        " iterates inside EventBase.loop() and has no selector (tests/aio/test_aio_loop.py"
        " checks the same property: short sleeps do not spin the loop)"
    ),
}


def _exclude(cls: type) -> type:
    for name, reason in EXCLUDED.items():
        if hasattr(cls, name):
            setattr(cls, name, unittest.skip(reason)(getattr(cls, name)))
    return cls


@_exclude
class LeventEventLoopTests(
    test_events.UnixEventLoopTestsMixin,
    test_events.SubprocessTestsMixin,
    test_utils.TestCase,
):
    def create_event_loop(self) -> Any:
        return EventLoop()


@_exclude
class LeventSockTests(test_sock_lowlevel.BaseSockTestsMixin, test_utils.TestCase):
    def create_event_loop(self) -> Any:
        return EventLoop()


@_exclude
class LeventSendfileTests(test_sendfile.SendfileTestsBase, test_utils.TestCase):
    def create_event_loop(self) -> Any:
        return EventLoop()


def teardown_module() -> None:
    asyncio.set_event_loop_policy(None)
