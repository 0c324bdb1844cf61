"""Shared pytest configuration for levent's tests.

``base`` is an EventBase on each backend the OS offers (tests using it run once
per backend, as libevent runs its regress suite once per method); a callback
that raises fails the test instead of being logged. ``sockpair`` is a pair of
connected non-blocking sockets, closed after the test.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

import levent
from levent import EVENT_BASE_FLAG_IGNORE_ENV, EventBase, EventConfig


def config_for(method: str) -> EventConfig:
    """A config that selects exactly ``method``, whatever the environment says."""
    cfg = EventConfig()
    cfg.set_flag(EVENT_BASE_FLAG_IGNORE_ENV)
    for other in levent.supported_methods():
        if other != method:
            cfg.avoid_method(other)
    return cfg


@pytest.fixture(params=levent.supported_methods())
def base(request: pytest.FixtureRequest) -> Iterator[EventBase]:
    b = EventBase(config_for(request.param))
    assert b.method == request.param

    def fail(base: EventBase, source: object, exc: BaseException) -> None:
        raise exc

    b.set_error_handler(fail)
    yield b
    b.free()


@pytest.fixture
def sockpair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()
