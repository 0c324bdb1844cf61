"""Conformance: Evbuffer operations replayed on the real libevent 2.1 (ctypes) and on levent.

Two kinds of test:

* Seeded random sequences (``random.Random(seed)``, one test per seed so a failure
  names it): about 50 operations each, applied in lockstep to a libevent buffer and
  a levent buffer; every returned value (bytes, lengths, positions, EOL lengths,
  ``None`` for NULL, failure for -1) and the content after every step must agree.
* The exact scenarios of libevent-reference.md §3.6 behaviours 59-68 and 73-75
  (libevent's regress tests evbuffer/readln, search_eol, search, ptr_set, peek,
  copyout, pullup_with_empty, evbuffer, prepend), plus a few edge cases read off
  libevent 2.1.12, each run on both libraries against the same expected trace.

libevent's chain layout differs from levent's (libevent copies small adds into
spare chain space), so ``peek`` extent counts and ``get_contiguous_space`` are
compared only where the scenario fixes the layout by moving whole buffers in.
Skipped, with what to install, where libevent is absent.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from test_buffer_model import (
    EOL_ANY,
    EOL_CRLF,
    EOL_CRLF_STRICT,
    EOL_LF,
    EOL_NUL,
    PTR_ADD,
    PTR_SET,
    Impl,
    fill,
    levent_impl,
    libevent_impl,
)

from levent.errors import EvbufferError

Trace = list[Any]


@pytest.fixture(params=["libevent", "levent"])
def impl(request: pytest.FixtureRequest) -> Impl:
    return libevent_impl() if request.param == "libevent" else levent_impl()


def _ptr(impl: Impl, buf: Any, position: int) -> Any:
    ptr = impl.new_ptr()
    buf.ptr_set(ptr, position, impl.how[PTR_SET])
    return ptr


def _outcome(fn: Callable[[], Any]) -> Any:
    """A call's result, or the failure class (libevent: -1/NULL; levent: an exception)."""
    try:
        return fn()
    except ValueError:
        return "fails: ValueError"
    except EvbufferError:
        return "fails: EvbufferError"


# -- seeded random sequences ---------------------------------------------------------------

_KINDS = (
    *("add", "add", "add", "prepend", "add_buffer", "prepend_buffer", "remove_buffer"),
    *("drain", "remove", "copyout", "copyout_from", "pullup", "readln", "readln", "readln"),
    *("search", "search_range", "search_eol", "ptr_set", "peek", "reserve"),
)
_ALPHABET = [b"\r", b"\n", b"\0", b"a", b"b", b"\r\n", b"line", b"\n\r"]


def _piece(rng: random.Random) -> bytes:
    n = rng.choice([0, 1, 1, 2, 3, 5, 8, 40])
    return b"".join(rng.choice(_ALPHABET) for _ in range(n))


class _Op:
    """One randomly drawn operation, applied identically to a buffer of either library."""

    def __init__(self, rng: random.Random, length: int) -> None:
        self.kind = rng.choice(_KINDS)
        self.n = rng.choice([0, 1, 2, rng.randint(0, length + 3), length, length + 1])
        self.n2 = rng.randint(0, length + 2)
        self.start = rng.choice([None, rng.randint(0, length), length])
        self.end = rng.choice([None, rng.randint(0, length)])
        self.style = rng.randint(0, 4)
        self.how = rng.choice([PTR_SET, PTR_ADD])
        self.piece = _piece(rng)
        self.chunks = [_piece(rng) for _ in range(rng.randint(0, 4))]
        self.length = rng.choice([-1, 0, rng.randint(0, length + 2)])
        self.payload = bytes(rng.choice(b"ab\r\n\0") for _ in range(rng.randint(0, 200)))

    def apply(self, impl: Impl, buf: Any) -> Any:
        k = self.kind
        start = None if self.start is None else _ptr(impl, buf, self.start)
        if k == "add":
            return buf.add(self.piece)
        if k == "prepend":
            return buf.prepend(self.piece)
        if k in ("add_buffer", "prepend_buffer"):
            src = fill(impl, self.chunks)
            getattr(buf, k)(src)
            left = len(src)
            src.free()
            return left
        if k == "remove_buffer":
            dst = impl.new_buffer()
            dst.add(b"dst:")
            moved = buf.remove_buffer(dst, self.n)
            out = (moved, bytes(dst))
            dst.free()
            return out
        if k == "drain":
            return buf.drain(self.n)
        if k == "remove":
            return buf.remove(self.n)
        if k == "copyout":
            return buf.copyout(self.n)
        if k == "copyout_from":
            return buf.copyout_from(start or _ptr(impl, buf, 0), self.n)
        if k == "pullup":
            view = buf.pullup(self.length)
            return None if view is None else bytes(view)
        if k == "readln":
            return buf.readln(impl.eol[self.style])
        if k == "search":
            return buf.search(self.piece[:3], start).pos
        if k == "search_range":
            end = None if self.end is None else _ptr(impl, buf, self.end)
            return buf.search_range(self.piece[:3], start, end).pos
        if k == "search_eol":
            found, eol_len = buf.search_eol(start, impl.eol[self.style])
            return found.pos, eol_len
        if k == "ptr_set":
            ptr = impl.new_ptr()
            if self.how == PTR_ADD and start is not None:
                ptr = start
            elif self.how == PTR_ADD:  # from n2, which may be out of range (pos -1)
                _outcome(lambda: buf.ptr_set(ptr, self.n2, impl.how[PTR_SET]))
            res = _outcome(lambda: buf.ptr_set(ptr, self.n, impl.how[self.how]))
            after = ptr.pos
            tail = buf.copyout_from(ptr, 5) if after >= 0 else None
            return res, after, tail
        if k == "peek":
            views = buf.peek(self.length, start)
            joined = b"".join(bytes(v) for v in views)
            want = len(joined) if self.length < 0 else self.length
            return joined[:want]
        assert k == "reserve"
        size = max(len(self.payload), 1)
        views = buf.reserve_space(size, 2)
        done, committed = 0, []
        for view in views:
            take = min(len(view), len(self.payload) - done)
            view[:take] = self.payload[done : done + take]
            committed.append(view[:take])
            done += take
        buf.commit_space(committed)
        return done

    def __repr__(self) -> str:
        fields = ("n", "n2", "start", "end", "style", "how", "piece", "chunks", "length")
        return f"{self.kind}({', '.join(f'{f}={getattr(self, f)!r}' for f in fields)})"


@pytest.mark.parametrize("seed", range(300))
def test_seeded_random_sequence_gives_libevents_results(seed: int) -> None:
    """Given the same ~50 random operations, levent returns what libevent 2.1 returns."""
    c_impl, py_impl = libevent_impl(), levent_impl()
    rng = random.Random(seed)
    c_buf, py_buf = c_impl.new_buffer(), py_impl.new_buffer()
    history: list[_Op] = []
    try:
        for _ in range(50):
            op = _Op(rng, len(c_buf))
            history.append(op)
            want = _outcome(lambda op=op: op.apply(c_impl, c_buf))
            got = _outcome(lambda op=op: op.apply(py_impl, py_buf))
            where = f"seed {seed}, step {len(history)}: {history[-3:]}"
            assert got == want, where
            assert len(py_buf) == len(c_buf), where
            assert bytes(py_buf) == bytes(c_buf), where
    finally:
        c_buf.free()
        py_buf.free()


# -- behaviours 59-62: readln -----------------------------------------------------------------


def _lines(buf: Any, impl: Impl, style: int, count: int) -> Trace:
    out: Trace = []
    for _ in range(count):
        out.append(buf.readln(impl.eol[style]))
    return out


def test_readln_any_consumes_the_whole_run_of_cr_lf(impl: Impl) -> None:
    """59: given "complex silly newline\\r\\n\\n\\r\\n\\n\\rmore\\0\\n", readln(ANY) returns
    "complex silly newline", then "more\\0" (5 bytes), leaving the buffer empty; then
    "\\nno newline" gives "" and then NULL."""
    buf = impl.new_buffer()
    buf.add(b"complex silly newline\r\n\n\r\n\n\rmore\0\n")
    assert _lines(buf, impl, EOL_ANY, 2) == [b"complex silly newline", b"more\0"]
    assert len(buf) == 0
    buf.add(b"\nno newline")
    assert _lines(buf, impl, EOL_ANY, 2) == [b"", None]
    assert bytes(buf) == b"no newline"
    buf.free()


def test_readln_crlf_takes_lf_optionally_preceded_by_cr(impl: Impl) -> None:
    """60: EOL_CRLF on "Line with\\rin the middle\\nLine with good crlf\\r\\n\\nfinal\\n"."""
    buf = impl.new_buffer()
    buf.add(b"Line with\rin the middle\nLine with good crlf\r\n\nfinal\n")
    assert _lines(buf, impl, EOL_CRLF, 4) == [
        b"Line with\rin the middle",
        b"Line with good crlf",
        b"",
        b"final",
    ]
    buf.add(b"x")
    assert buf.readln(impl.eol[EOL_CRLF]) is None
    assert bytes(buf) == b"x"
    buf.free()


@pytest.mark.parametrize("separate_chain", [False, True])
def test_readln_crlf_strict_needs_exactly_cr_lf(impl: Impl, separate_chain: bool) -> None:
    """61: EOL_CRLF_STRICT on "x and a bad crlf\\nand a good one\\r\\n\\r\\nMore\\r": NULL until
    a "\\n" arrives, also when the "\\r" and the "\\n" are in different chains."""
    buf = impl.new_buffer()
    buf.add(b"x and a bad crlf\nand a good one\r\n\r\nMore\r")
    assert _lines(buf, impl, EOL_CRLF_STRICT, 3) == [b"x and a bad crlf\nand a good one", b"", None]
    if separate_chain:
        tmp = fill(impl, [b"\n"])
        buf.add_buffer(tmp)
        tmp.free()
    else:
        buf.add(b"\n")
    assert _lines(buf, impl, EOL_CRLF_STRICT, 2) == [b"More", None]
    assert len(buf) == 0
    buf.free()


def test_readln_lf_and_nul(impl: Impl) -> None:
    """62: EOL_LF on "An\\rand a nl\\n\\nText", then EOL_NUL on the all-zeros text."""
    buf = impl.new_buffer()
    buf.add(b"An\rand a nl\n\nText")
    assert _lines(buf, impl, EOL_LF, 3) == [b"An\rand a nl", b"", None]
    buf.add(b"\n")
    assert _lines(buf, impl, EOL_LF, 2) == [b"Text", None]
    buf.add(
        b"NUL\n\0\0The all-zeros character which may serve\0to accomplish time fill\0and media fill"
    )
    assert _lines(buf, impl, EOL_NUL, 5) == [
        b"NUL\n",
        b"",
        b"The all-zeros character which may serve",
        b"to accomplish time fill",
        None,
    ]
    assert bytes(buf) == b"and media fill"
    buf.free()


@pytest.mark.parametrize(
    ("style", "lines"),
    [
        (EOL_ANY, [b"a", b"b", None]),
        (EOL_CRLF, [b"a", b"\rb", None]),
        (EOL_LF, [b"a", b"\rb", None]),
        (EOL_CRLF_STRICT, [None]),
    ],
)
def test_readln_on_lf_cr_run(impl: Impl, style: int, lines: Trace) -> None:
    """62 (derived): "a\\n\\rb\\n" — ANY treats "\\n\\r" as one EOL; CRLF/LF keep the "\\r"."""
    buf = impl.new_buffer()
    buf.add(b"a\n\rb\n")
    assert _lines(buf, impl, style, len(lines)) == lines
    buf.free()


@pytest.mark.parametrize(
    ("style", "before", "after", "eol_after"),
    [
        (EOL_ANY, b"x", b"", 1),
        (EOL_CRLF, None, b"x", 2),
        (EOL_CRLF_STRICT, None, b"x", 2),
        (EOL_LF, None, b"x\r", 1),
    ],
)
def test_readln_on_a_lone_trailing_cr(
    impl: Impl, style: int, before: bytes | None, after: bytes, eol_after: int
) -> None:
    """62 (derived): "x\\r" — ANY returns "x" at once (a later "\\n" is an extra empty line);
    CRLF/CRLF_STRICT/LF wait; after the "\\n" CRLF(_STRICT) return "x", LF "x\\r"."""
    buf = impl.new_buffer()
    buf.add(b"x\r")
    assert buf.readln(impl.eol[style]) == before
    buf.add(b"\n")
    found, eol_len = buf.search_eol(None, impl.eol[style])
    assert (found.pos, eol_len) == (len(after), eol_after)
    assert buf.readln(impl.eol[style]) == after
    assert len(buf) == 0
    buf.free()


# -- behaviour 64: search_eol ---------------------------------------------------------------------


def test_search_eol_positions_and_lengths(impl: Impl) -> None:
    """64: "string! \\r\\n\\r\\nx\\n" — CRLF from 0 → 8/2, from 9 → 9/1; STRICT from 9 → 10/2;
    LF from 0 → 9/1, from 10 → 11/1; from the end → -1/0."""
    buf = impl.new_buffer()
    buf.add(b"string! \r\n\r\nx\n")

    def eol(start: int | None, style: int) -> tuple[int, int]:
        ptr = None if start is None else _ptr(impl, buf, start)
        found, eol_len = buf.search_eol(ptr, impl.eol[style])
        return found.pos, eol_len

    assert eol(None, EOL_CRLF) == (8, 2)
    assert eol(9, EOL_CRLF) == (9, 1)
    assert eol(9, EOL_CRLF_STRICT) == (10, 2)
    assert eol(None, EOL_LF) == (9, 1)
    assert eol(10, EOL_LF) == (11, 1)
    assert eol(len(buf), EOL_LF) == (-1, 0)
    assert eol(len(buf), EOL_ANY) == (-1, 0)
    assert eol(12, EOL_ANY) == (13, 1)
    assert eol(None, EOL_ANY) == (8, 4)
    buf.free()


# -- behaviour 65: search and search_range ---------------------------------------------------------


def test_search_across_chains(impl: Impl) -> None:
    """65: chains "hello","foo","cat","attack"."""
    buf = fill(impl, [b"hello", b"foo", b"cat", b"attack"])

    def search(what: bytes, start: int | None = None) -> int:
        return buf.search(what, None if start is None else _ptr(impl, buf, start)).pos

    def search_range(what: bytes, start: int | None, end: int) -> int:
        start_ptr = None if start is None else _ptr(impl, buf, start)
        return buf.search_range(what, start_ptr, _ptr(impl, buf, end)).pos

    assert search(b"attack") == 11
    assert search(b"attacker") == -1
    assert search(b"oc") == 7
    assert search(b"cat", 7) == 8
    assert search(b"tacking", 8) == -1
    assert search(b"foo", 5) == 5
    assert search(b"tat", 7) == 10
    assert search_range(b"foo", None, 12) == 5
    assert search_range(b"foocata", None, 12) == 5
    assert search_range(b"foocatat", None, 12) == -1
    assert search_range(b"ack", None, 12) == -1
    assert search_range(b"attack", None, 17) == 11
    assert search_range(b"attack", 17, 17) == -1
    buf.free()
    empty = impl.new_buffer()
    assert empty.search(b"x").pos == -1
    assert empty.search_range(b"x", None, None).pos == -1
    empty.free()


# -- behaviour 66: ptr_set ---------------------------------------------------------------------


def test_ptr_set_range_is_zero_to_length_inclusive(impl: Impl) -> None:
    """66: empty buffer SET 0 ok; ADD 1 and SET 1 fail with pos -1; 12000 bytes in three
    chains: SET 13000 fails, ADD up to exactly 12000 succeeds, one more fails."""
    buf = impl.new_buffer()
    ptr = impl.new_ptr()
    set_, add = impl.how
    assert _outcome(lambda: buf.ptr_set(ptr, 0, set_)) is None
    assert ptr.pos == 0
    assert _outcome(lambda: buf.ptr_set(ptr, 1, add)) == "fails: ValueError"
    assert ptr.pos == -1
    assert _outcome(lambda: buf.ptr_set(ptr, 1, set_)) == "fails: ValueError"
    assert ptr.pos == -1
    buf.free()

    buf = fill(impl, [b"a" * 4000, b"b" * 4000, b"c" * 4000])
    assert _outcome(lambda: buf.ptr_set(ptr, 13000, set_)) == "fails: ValueError"
    assert ptr.pos == -1
    assert _outcome(lambda: buf.ptr_set(ptr, 1, add)) == "fails: ValueError"
    assert ptr.pos == -1
    buf.ptr_set(ptr, 0, set_)
    for step, tail in [(1000, b"a"), (3000, b"b"), (4000, b"c"), (3999, b"c"), (1, b"")]:
        buf.ptr_set(ptr, step, add)
        assert buf.copyout_from(ptr, 1) == tail
    assert ptr.pos == 12000
    assert _outcome(lambda: buf.ptr_set(ptr, 1, add)) == "fails: ValueError"
    assert ptr.pos == -1
    buf.free()


# -- behaviour 67: peek ----------------------------------------------------------------------


def test_peek_counts_extents_of_chains(impl: Impl) -> None:
    """67: 16 chains "Contents of chunk [i]\\n" moved in one by one."""
    buf = fill(impl, [b"Contents of chunk [%d]\n" % i for i in range(16)])

    def peek(length: int, start: int | None = None) -> list[bytes]:
        ptr = None if start is None else _ptr(impl, buf, start)
        return [bytes(v) for v in buf.peek(length, ptr)]

    assert len(peek(-1)) == 16
    assert peek(-1)[15] == b"Contents of chunk [15]\n"
    assert len(peek(40)) == 2
    assert len(peek(100)) == 5
    assert len(peek(60)) == 3
    assert len(peek(65536)) == 16
    assert len(peek(0)) == 0
    assert peek(50, 30) == [
        b" of chunk [1]\n",
        b"Contents of chunk [2]\n",
        b"Contents of chunk [3]\n",
    ]
    assert peek(0, 30) == [b" of chunk [1]\n"]  # with a start, the first extent always counts
    assert peek(10, len(buf)) == []
    assert peek(-1, len(buf)) == []
    buf.free()
    empty = impl.new_buffer()
    assert empty.peek(-1) == []
    assert empty.peek(10) == []
    empty.free()


# -- behaviour 68: copyout / copyout_from ---------------------------------------------------------


def test_copyout_and_copyout_from_truncate_without_draining(impl: Impl) -> None:
    """68: chains of 80, 80 and 46 bytes."""
    chunks = [bytes(range(i, i + 80)) for i in (0, 80)] + [bytes(range(160, 206))]
    data = b"".join(chunks)
    buf = fill(impl, chunks)
    for n, got in [(10, 10), (100, 100), (230, 206)]:
        assert buf.copyout(n) == data[:got]
    assert len(buf) == 206
    ptr = _ptr(impl, buf, 15)
    for n, got in [(10, 10), (65, 65), (90, 90), (160, 160), (999, 191)]:
        assert buf.copyout_from(ptr, n) == data[15 : 15 + got]
    assert buf.copyout_from(_ptr(impl, buf, 206), 5) == b""
    assert len(buf) == 206
    buf.free()


# -- behaviours 73-75: pullup, drain/remove, prepend ---------------------------------------------


def test_pullup_returns_null_when_it_cannot_deliver(impl: Impl) -> None:
    """73: pullup(-1) on empty → NULL; n > length → NULL; "foo" + empty reference → "foo"."""
    buf = impl.new_buffer()
    assert buf.pullup(-1) is None
    assert buf.pullup(0) is None
    buf.add(b"foo")
    buf.add_reference(b"")
    assert buf.pullup(4) is None
    view = buf.pullup(-1)
    assert view is not None
    assert bytes(view) == b"foo"
    assert buf.pullup(0) is None
    buf.free()


def test_pullup_makes_the_front_contiguous(impl: Impl) -> None:
    """pullup(n) across chains: the first extent then holds at least n bytes."""
    buf = fill(impl, [b"ab", b"cd", b"ef", b"gh"])
    view = buf.pullup(5)
    assert view is not None
    assert bytes(view) == b"abcde"
    assert buf.get_contiguous_space() >= 5
    assert bytes(buf.peek(1)[0])[:5] == b"abcde"
    assert bytes(buf) == b"abcdefgh"
    buf.free()


def test_drain_past_the_end_empties_and_remove_returns_what_it_copied(impl: Impl) -> None:
    """74: drain(n ≥ length) empties the buffer; remove(n) returns only the bytes there."""
    buf = impl.new_buffer()
    buf.add(b"0123456789")
    assert buf.remove(4) == b"0123"
    assert buf.remove(100) == b"456789"
    assert buf.remove(1) == b""
    buf.add(b"abc")
    buf.drain(1)
    assert bytes(buf) == b"bc"
    buf.drain(1000)
    assert len(buf) == 0
    assert buf.get_contiguous_space() == 0
    buf.free()


def test_prepend_reports_the_addition_to_callbacks(impl: Impl) -> None:
    """75: "foo" then prepend of 8096 bytes: the callback sees orig 3, added 8096, deleted 0;
    prepend_buffer(dst, src) puts src first and empties src."""
    buf = impl.new_buffer()
    buf.add(b"foo")
    seen: Trace = []
    buf.add_cb(lambda b, info, arg: seen.append((info.orig_size, info.n_added, info.n_deleted)))
    big = bytes(i % 251 for i in range(8096))
    buf.prepend(big)
    assert seen == [(3, 8096, 0)]
    assert bytes(buf) == big + b"foo"
    src = fill(impl, [b"first:", b"second:"])
    buf.prepend_buffer(src)
    assert len(src) == 0
    assert bytes(buf) == b"first:second:" + big + b"foo"
    assert seen[-1] == (8099, 13, 0)
    src.free()
    buf.free()


# -- edge cases read off libevent 2.1.12 -----------------------------------------------------------


def test_moving_a_buffer_into_itself_is_a_no_op(impl: Impl) -> None:
    """libevent: add_buffer(b, b) and prepend_buffer(b, b) return 0 and change nothing;
    remove_buffer(b, b, n) moves nothing and returns 0."""
    buf = fill(impl, [b"hello", b"world"])
    assert _outcome(lambda: buf.add_buffer(buf)) is None
    assert _outcome(lambda: buf.prepend_buffer(buf)) is None
    assert _outcome(lambda: buf.remove_buffer(buf, 3)) == 0
    assert _outcome(lambda: buf.remove_buffer(buf, 100)) == 0
    assert bytes(buf) == b"helloworld"
    buf.free()


def test_searching_for_the_empty_string_returns_the_start(impl: Impl) -> None:
    """libevent: a zero-length needle "matches" at the start position, even on an empty
    buffer and at the end; search_range does the same."""
    empty = impl.new_buffer()
    assert empty.search(b"").pos == 0
    empty.free()
    buf = fill(impl, [b"abc", b"def"])
    assert buf.search(b"").pos == 0
    assert buf.search(b"", _ptr(impl, buf, 4)).pos == 4
    assert buf.search(b"", _ptr(impl, buf, 6)).pos == 6
    assert buf.search_range(b"", _ptr(impl, buf, 2), _ptr(impl, buf, 1)).pos == 2
    buf.free()


def test_a_search_result_is_a_valid_start_for_the_next_search(impl: Impl) -> None:
    """Iterating over matches: each result pointer, moved on by one (ADD), starts the next."""
    buf = fill(impl, [b"a\nb", b"\n", b"\nc\n"])
    found = []
    ptr = buf.search(b"\n")
    while ptr.pos >= 0:
        found.append(ptr.pos)
        buf.ptr_set(ptr, 1, impl.how[PTR_ADD])
        ptr = buf.search(b"\n", ptr)
    assert found == [1, 3, 4, 6]
    eols = []
    ptr, eol_len = buf.search_eol(None, impl.eol[EOL_LF])
    while ptr.pos >= 0:
        eols.append((ptr.pos, eol_len))
        buf.ptr_set(ptr, eol_len, impl.how[PTR_ADD])
        ptr, eol_len = buf.search_eol(ptr, impl.eol[EOL_LF])
    assert eols == [(1, 1), (3, 1), (4, 1), (6, 1)]
    buf.free()
