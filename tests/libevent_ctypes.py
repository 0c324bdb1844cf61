"""Load the real libevent 2.1 (Debian's libevent-dev) through ctypes for conformance tests.

Tests that compare levent with libevent call :func:`load` and are skipped, with a
message saying what to install, where the C library is absent.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest

_CANDIDATES = ("libevent-2.1.so.7", "libevent_core-2.1.so.7", "libevent.so")


def load() -> ctypes.CDLL:
    """Return the libevent shared library, or skip the calling test."""
    names = list(_CANDIDATES)
    found = ctypes.util.find_library("event")
    if found:
        names.insert(0, found)
    for name in names:
        try:
            return ctypes.CDLL(name, use_errno=True)
        except OSError:
            continue
    pytest.skip("libevent 2.1 C library not found: apt-get install libevent-dev")
