"""Evbuffer unit tests: every method of the contract, bad input, and libevent-reference.md
§3.6 behaviours 59-77, one test each (``test_given_X_levent_does_Y``, number in the docstring).

fd I/O uses real socketpairs, pipes and temporary files.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

import levent
from levent import (
    EVBUF_FS_CLOSE_ON_FREE,
    EVBUF_FS_DISABLE_MMAP,
    EVBUF_FS_DISABLE_SENDFILE,
    EVBUFFER_CB_ENABLED,
    EVBUFFER_EOL_ANY,
    EVBUFFER_EOL_CRLF,
    EVBUFFER_EOL_CRLF_STRICT,
    EVBUFFER_EOL_LF,
    EVBUFFER_EOL_NUL,
    EVBUFFER_FLAG_DRAINS_TO_FD,
    EVBUFFER_PTR_ADD,
    EVBUFFER_PTR_SET,
    EVLOOP_NONBLOCK,
    BufferFrozenError,
    Evbuffer,
    EvbufferCbInfo,
    EvbufferError,
    EvbufferFileSegment,
    EvbufferPtr,
    EventBase,
)


def chained(*parts: bytes) -> Evbuffer:
    """A buffer holding each part in its own chunk (libevent's evbuffer_add_buffer idiom)."""
    buf = Evbuffer()
    for part in parts:
        tmp = Evbuffer()
        tmp.add(part)
        buf.add_buffer(tmp)
    return buf


def lines(buf: Evbuffer, style: int) -> list[bytes | None]:
    out: list[bytes | None] = []
    while True:
        line = buf.readln(style)
        out.append(line)
        if line is None:
            return out


def recv_all(sock: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        piece = sock.recv(n - len(got))
        if not piece:
            break
        got += piece
    return got


@pytest.fixture
def pair() -> Any:
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    yield a, b
    a.close()
    b.close()


# ---------------------------------------------------------------------------
# §3.6 behaviours 59-77
# ---------------------------------------------------------------------------


def test_given_a_cr_lf_run_readln_any_consumes_the_whole_run() -> None:
    """Behaviour 59 (T: evbuffer/readln): EOL_ANY eats a CR/LF run; NULs stay in lines."""
    buf = Evbuffer()
    buf.add(b"complex silly newline\r\n\n\r\n\n\rmore\0\n")
    assert buf.readln(EVBUFFER_EOL_ANY) == b"complex silly newline"
    line = buf.readln(EVBUFFER_EOL_ANY)
    assert line == b"more\0" and len(line) == 5
    assert len(buf) == 0
    buf.add(b"\nno newline")
    assert buf.readln(EVBUFFER_EOL_ANY) == b""
    assert buf.readln(EVBUFFER_EOL_ANY) is None
    assert bytes(buf) == b"no newline"


def test_given_eol_crlf_levent_accepts_lf_with_an_optional_cr() -> None:
    """Behaviour 60 (T: evbuffer/readln): EOL_CRLF lines; a lone "x" gives None."""
    buf = Evbuffer()
    buf.add(b"Line with\rin the middle\nLine with good crlf\r\n\nfinal\n")
    assert lines(buf, EVBUFFER_EOL_CRLF) == [
        b"Line with\rin the middle",
        b"Line with good crlf",
        b"",
        b"final",
        None,
    ]
    buf.add(b"x")
    assert buf.readln(EVBUFFER_EOL_CRLF) is None
    assert bytes(buf) == b"x"


def test_given_eol_crlf_strict_levent_waits_for_a_real_crlf_even_across_chunks() -> None:
    """Behaviour 61 (T: evbuffer/readln): only CR LF ends a line, also split over chains."""
    buf = Evbuffer()
    buf.add(b"x and a bad crlf\nand a good one\r\n\r\nMore\r")
    assert buf.readln(EVBUFFER_EOL_CRLF_STRICT) == b"x and a bad crlf\nand a good one"
    assert buf.readln(EVBUFFER_EOL_CRLF_STRICT) == b""
    assert buf.readln(EVBUFFER_EOL_CRLF_STRICT) is None
    buf.add(b"\n")
    assert buf.readln(EVBUFFER_EOL_CRLF_STRICT) == b"More"
    assert len(buf) == 0
    # the same with "\r" and "\n" in different chains
    split = chained(b"More\r", b"\n")
    assert len(split.peek()) == 2
    assert split.readln(EVBUFFER_EOL_CRLF_STRICT) == b"More"


def test_given_eol_lf_and_eol_nul_levent_splits_on_that_byte_only() -> None:
    """Behaviour 62 (T: evbuffer/readln), plus the derived cases of the search rules."""
    buf = Evbuffer()
    buf.add(b"An\rand a nl\n\nText")
    assert lines(buf, EVBUFFER_EOL_LF) == [b"An\rand a nl", b"", None]
    buf.add(b"\n")
    assert buf.readln(EVBUFFER_EOL_LF) == b"Text"
    nul = Evbuffer()
    nul.add(
        b"NUL\n\0\0The all-zeros character which may serve\0to accomplish time fill\0and media fill"
    )
    assert lines(nul, EVBUFFER_EOL_NUL) == [
        b"NUL\n",
        b"",
        b"The all-zeros character which may serve",
        b"to accomplish time fill",
        None,
    ]
    expected: dict[int, list[bytes | None]] = {
        EVBUFFER_EOL_ANY: [b"a", b"b", None],
        EVBUFFER_EOL_CRLF: [b"a", b"\rb", None],
        EVBUFFER_EOL_LF: [b"a", b"\rb", None],
        EVBUFFER_EOL_CRLF_STRICT: [None],
    }
    for style, want in expected.items():
        b = Evbuffer()
        b.add(b"a\n\rb\n")
        assert lines(b, style) == want, style
    # "x\r" alone: ANY answers at once; the others wait for the "\n"
    for style in (EVBUFFER_EOL_ANY, EVBUFFER_EOL_CRLF, EVBUFFER_EOL_CRLF_STRICT, EVBUFFER_EOL_LF):
        b = Evbuffer()
        b.add(b"x\r")
        if style == EVBUFFER_EOL_ANY:
            assert b.readln(style) == b"x"
            b.add(b"\n")
            assert b.readln(style) == b""  # the extra empty line the header warns about
            continue
        assert b.readln(style) is None
        b.add(b"\n")
        ptr, eol_len = b.search_eol(None, style)
        if style == EVBUFFER_EOL_LF:
            assert (ptr.pos, eol_len) == (2, 1)
            assert b.readln(style) == b"x\r"
        else:
            assert (ptr.pos, eol_len) == (1, 2)
            assert b.readln(style) == b"x"


def test_given_readln_fails_levent_leaves_the_buffer_unchanged() -> None:
    """Behaviour 63 (T: readln): a failed readln keeps the line for the next call.

    A failed allocation has no Python counterpart (MemoryError would propagate
    before anything is removed); a frozen front is the failure we can cause.
    """
    buf = Evbuffer()
    buf.add(b"first line\nsecond")
    buf.freeze(True)
    with pytest.raises(BufferFrozenError):
        buf.readln(EVBUFFER_EOL_LF)
    assert bytes(buf) == b"first line\nsecond"
    buf.unfreeze(True)
    assert buf.readln(EVBUFFER_EOL_LF) == b"first line"


def test_given_search_eol_levent_reports_position_and_eol_length() -> None:
    """Behaviour 64 (T: evbuffer/search_eol): CRLF never backs up before the start."""
    buf = Evbuffer()
    buf.add(b"string! \r\n\r\nx\n")
    ptr, n = buf.search_eol(None, EVBUFFER_EOL_CRLF)
    assert (ptr.pos, n) == (8, 2)
    ptr, n = buf.search_eol(buf.ptr(9), EVBUFFER_EOL_CRLF)
    assert (ptr.pos, n) == (9, 1)
    ptr, n = buf.search_eol(buf.ptr(9), EVBUFFER_EOL_CRLF_STRICT)
    assert (ptr.pos, n) == (10, 2)
    ptr, n = buf.search_eol(None, EVBUFFER_EOL_LF)
    assert (ptr.pos, n) == (9, 1)
    ptr, n = buf.search_eol(buf.ptr(10), EVBUFFER_EOL_LF)
    assert (ptr.pos, n) == (11, 1)
    ptr, n = buf.search_eol(buf.ptr(len(buf)), EVBUFFER_EOL_LF)
    assert (ptr.pos, n) == (-1, 0)
    assert len(buf) == 14


def test_given_chained_text_search_and_search_range_find_matches_across_chunks() -> None:
    """Behaviour 65 (T: evbuffer/search): the exact cases, including the end rule."""
    buf = chained(b"hello", b"foo", b"cat", b"attack")
    assert buf.search(b"attack").pos == 11
    assert buf.search(b"attacker").pos == -1
    pos = buf.search(b"oc")
    assert pos.pos == 7
    assert buf.search(b"cat", pos).pos == 8
    assert buf.search(b"tacking", buf.ptr(8)).pos == -1
    assert buf.search(b"foo", buf.ptr(5)).pos == 5
    assert buf.search(b"tat", buf.ptr(7)).pos == 10
    end = buf.ptr(12)
    assert buf.search_range(b"foo", None, end).pos == 5
    assert buf.search_range(b"foocata", None, end).pos == 5
    assert buf.search_range(b"foocatat", None, end).pos == -1
    assert buf.search_range(b"ack", None, end).pos == -1
    end = buf.ptr(17)
    assert buf.search_range(b"attack", None, end).pos == 11
    assert buf.search_range(b"attack", buf.ptr(17), end).pos == -1
    assert Evbuffer().search(b"x").pos == -1
    assert Evbuffer().search_range(b"x", None, None).pos == -1


def test_given_ptr_set_levent_accepts_zero_to_length_inclusive() -> None:
    """Behaviour 66 (T: evbuffer/ptr_set)."""
    empty = Evbuffer()
    ptr = EvbufferPtr()
    empty.ptr_set(ptr, 0, EVBUFFER_PTR_SET)
    assert ptr.pos == 0
    with pytest.raises(ValueError):
        empty.ptr_set(ptr, 1, EVBUFFER_PTR_ADD)
    assert ptr.pos == -1
    with pytest.raises(ValueError):
        empty.ptr_set(ptr, 1, EVBUFFER_PTR_SET)
    assert ptr.pos == -1
    buf = Evbuffer()
    for _ in range(3):
        buf.add(b"x" * 4000)
    assert len(buf) == 12000
    with pytest.raises(ValueError):
        buf.ptr_set(ptr, 13000, EVBUFFER_PTR_SET)
    assert ptr.pos == -1
    buf.ptr_set(ptr, 0, EVBUFFER_PTR_SET)
    for _ in range(12):
        buf.ptr_set(ptr, 1000, EVBUFFER_PTR_ADD)
    assert ptr.pos == 12000
    with pytest.raises(ValueError):
        buf.ptr_set(ptr, 1, EVBUFFER_PTR_ADD)
    assert ptr.pos == -1


def test_given_sixteen_chunks_peek_returns_the_extents_libevent_counts() -> None:
    """Behaviour 67 (T: evbuffer/peek).

    levent returns every extent, so libevent's n_vec-limited cases
    (``peek(-1, v, 1)`` → 1, ``peek(60, v, 1)`` → 3 filling one) are the
    length of the unlimited answer: the same counts.
    """
    buf = chained(*[b"Contents of chunk [%d]\n" % i for i in range(16)])
    assert len(buf.peek()) == 16
    assert [bytes(v) for v in buf.peek()] == [b"Contents of chunk [%d]\n" % i for i in range(16)]
    assert len(buf.peek(40)) == 2
    assert len(buf.peek(40)[1]) == 22  # the last extent may extend past 40
    assert len(buf.peek(100)) == 5
    assert len(buf.peek(60)) == 3
    assert len(buf.peek(65536)) == 16
    assert Evbuffer().peek() == []
    assert Evbuffer().peek(10) == []
    views = buf.peek(50, buf.ptr(30))
    assert len(views) == 3
    assert bytes(views[0]) == b" of chunk [1]\n"
    assert buf.peek(10, buf.ptr(len(buf))) == []


def test_given_three_chunks_copyout_truncates_and_does_not_drain() -> None:
    """Behaviour 68 (T: evbuffer/copyout): 80 + 80 + 46 bytes."""
    data = bytes(range(206))
    buf = chained(data[:80], data[80:160], data[160:])
    for n, want in ((10, 10), (100, 100), (230, 206)):
        assert buf.copyout(n) == data[:want]
    assert len(buf) == 206
    ptr = buf.ptr(15)
    for n, want in ((10, 10), (65, 65), (90, 90), (160, 160), (999, 191)):
        got = buf.copyout_from(ptr, n)
        assert len(got) == want
        assert got == data[15 : 15 + want]
    assert len(buf) == 206


def test_given_references_levent_calls_each_cleanup_once_after_its_last_byte() -> None:
    """Behaviour 69 (T: evbuffer/add_reference)."""
    chunk1 = b"If you have found the answer to such a problem"
    chunk2 = b"you ought to write it up for publication"
    calls: list[tuple[object, int, object]] = []

    def cleanup(data: object, length: int, arg: object) -> None:
        calls.append((data, length, arg))

    buf1 = Evbuffer()
    buf1.add_reference(chunk1, cleanup, 111)
    buf1.add(b", ")
    buf1.add_reference(chunk2, cleanup, 222)
    assert len(buf1) == len(chunk1) + len(chunk2) + 2
    assert buf1.remove(6) == b"If you"
    assert buf1.remove(5) == b" have"
    buf1.prepend(b"I have ")
    assert chunk1.startswith(b"If you")  # prepend never wrote into referenced memory
    buf1.drain(7)  # the prepended bytes
    buf1.drain(len(chunk1) - 11 - 1)  # all but one byte of chunk1
    assert calls == []
    assert buf1.remove(1) == b"m"
    assert calls == [(chunk1, len(chunk1), 111)]
    assert calls[0][0] is chunk1
    buf1.drain(6)  # ", you "
    buf2 = Evbuffer()
    buf2.add(b"I ")
    buf2.add_buffer(buf1)
    assert len(calls) == 1
    assert buf2.remove(16) == b"I ought to write"
    buf2.free()
    assert calls[1] == (chunk2, len(chunk2), 222)
    assert len(calls) == 2
    # the with-offset variant reports offset + length
    got: list[int] = []
    b3 = Evbuffer()
    b3.add_reference_with_offset(b"0123456789", 2, 5, lambda d, n, a: got.append(n))
    assert bytes(b3) == b"23456"
    b3.drain(5)
    assert got == [7]


def test_given_add_buffer_reference_both_buffers_see_the_bytes_independently() -> None:
    """Behaviour 70 (T: evbuffer/multicast, multicast_drain)."""
    buf1 = Evbuffer()
    buf2 = Evbuffer()
    for i in range(3):
        buf1.add(b"chunk %d " % i * 30)
    content = bytes(buf1)
    buf2.add_buffer_reference(buf1)
    assert bytes(buf2) == content
    assert bytes(buf1) == content
    with pytest.raises(EvbufferError):
        buf2.add_buffer_reference(buf2)
    with pytest.raises(EvbufferError):
        buf1.add_buffer_reference(buf2)  # buf2 holds shared (multicast) bytes
    buf1.drain(10)
    assert bytes(buf2) == content
    buf2.drain(25)
    assert bytes(buf1) == content[10:]
    buf1.free()
    assert bytes(buf2) == content[25:]
    # an empty source is a no-op success
    Evbuffer().add_buffer_reference(Evbuffer())


def test_given_two_callbacks_disabled_ones_miss_changes_and_nothing_accumulates() -> None:
    """Behaviour 71 (T: evbuffer/callbacks)."""
    buf = Evbuffer()
    out1 = Evbuffer()
    out2 = Evbuffer()

    def log_change(b: Evbuffer, info: EvbufferCbInfo, out: Evbuffer) -> None:
        out.add_printf("%d->%d; ", info.orig_size, info.orig_size + info.n_added - info.n_deleted)

    cb1 = buf.add_cb(log_change, out1)
    cb2 = buf.add_cb(log_change, out2)
    buf.add_printf("The %d magic words are spotty pudding", 2)
    buf.cb_clear_flags(cb2, EVBUFFER_CB_ENABLED)
    buf.drain(10)
    buf.prepend(b"Hello")
    buf.cb_set_flags(cb2, EVBUFFER_CB_ENABLED)
    buf.add_reference(b"Goodbye")
    buf.remove_cb_entry(cb1)
    buf.drain(len(buf))
    with pytest.raises(ValueError):
        buf.remove_cb(log_change, None)
    buf.add(b"X")
    buf.remove_cb(log_change, out2)
    assert bytes(out1) == b"0->36; 36->26; 26->31; 31->38; "
    assert bytes(out2) == b"0->36; 31->38; 38->0; 0->1; "

    # the legacy setcb drops every earlier callback
    out1.drain(len(out1))
    out2.drain(len(out2))
    buf.add_cb(log_change, out1)
    buf.add_cb(log_change, out2)

    def self_draining(b: Evbuffer, old_len: int, new_len: int, arg: object) -> None:
        if new_len > old_len:
            b.drain(new_len)

    buf.setcb(self_draining)
    buf.add_printf("This should get drained right away.")
    assert len(buf) == 0
    assert len(out1) == 0 and len(out2) == 0
    buf.setcb(None)
    buf.add_printf("This will not.")
    view = buf.pullup(-1)
    assert view is not None and bytes(view) == b"This will not."


def test_given_a_frozen_end_levent_refuses_only_that_end() -> None:
    """Behaviour 72 (T: evbuffer/freeze_start, freeze_end)."""
    a, b = socket.socketpair()
    try:
        buf = Evbuffer()
        buf.add(b"abcdefgh\n")
        other = Evbuffer()
        other.add(b"other")
        buf.freeze(True)
        for op in (
            lambda: buf.remove(1),
            lambda: buf.drain(1),
            lambda: buf.prepend(b"x"),
            lambda: buf.readln(),
            lambda: buf.remove_buffer(Evbuffer(), 1),
            lambda: buf.prepend_buffer(other),
            lambda: buf.write(a),
        ):
            with pytest.raises(BufferFrozenError, match="front"):
                op()
        assert bytes(buf) == b"abcdefgh\n"
        buf.add(b"1")
        assert buf.add_printf("%d", 2) == 1
        b.send(b"34")
        assert buf.read(a) == 2
        assert bytes(buf) == b"abcdefgh\n1234"
        assert bytes(other) == b"other"
        buf.unfreeze(True)

        buf.freeze(False)
        size = len(buf)
        src = Evbuffer()
        src.add(b"src")
        b.send(b"zz")
        for op in (
            lambda: buf.add(b""),
            lambda: buf.add(b"x"),
            lambda: buf.reserve_space(10),
            lambda: buf.commit_space([]),
            lambda: buf.add_reference(b"ref"),
            lambda: buf.add_printf("%d", 5),
            lambda: buf.add_buffer(src),
            lambda: buf.add_file(os.dup(a.fileno())),
            lambda: buf.read(a),
        ):
            with pytest.raises(BufferFrozenError, match="back"):
                op()
        assert len(buf) == size
        assert bytes(src) == b"src"
        assert buf.remove(2) == b"ab"
        buf.drain(1)
        buf.prepend(b"P")
        assert buf.readln() == b"Pdefgh"
        buf.unfreeze(False)
        buf.add(b"ok")
        assert bytes(buf) == b"1234ok"
        assert a.recv(10) == b"zz"
    finally:
        a.close()
        b.close()


def test_given_pullup_levent_returns_none_where_libevent_returns_null() -> None:
    """Behaviour 73 (T: evbuffer/pullup_with_empty)."""
    assert Evbuffer().pullup(-1) is None
    buf = Evbuffer()
    buf.add(b"foo")
    assert buf.pullup(4) is None
    assert buf.pullup(0) is None
    buf.add_reference(b"")
    assert len(buf) == 3
    view = buf.pullup(-1)
    assert view is not None and bytes(view) == b"foo"


def test_given_drain_past_the_end_levent_drains_everything() -> None:
    """Behaviour 74 (T: evbuffer/evbuffer): drain(n >= len) empties; remove returns what it got."""
    buf = Evbuffer()
    buf.add(b"0123456789")
    assert buf.drain(100) is None
    assert len(buf) == 0
    buf.add(b"abc")
    assert buf.remove(10) == b"abc"
    assert buf.remove(10) == b""


def test_given_prepend_with_a_callback_levent_reports_the_prepended_bytes() -> None:
    """Behaviour 75 (T: evbuffer/prepend); prepend_buffer puts src first and empties it."""
    buf = Evbuffer()
    buf.add(b"foo")
    seen: list[EvbufferCbInfo] = []
    buf.add_cb(lambda b, info, arg: seen.append(info))
    big = bytes(range(256)) * 31 + b"x" * 160
    assert len(big) == 8096
    buf.prepend(big)
    assert seen == [EvbufferCbInfo(3, 8096, 0)]
    assert bytes(buf) == big + b"foo"
    dst = Evbuffer()
    dst.add(b"world")
    src = Evbuffer()
    src.add(b"hello ")
    dst.prepend_buffer(src)
    assert bytes(dst) == b"hello world"
    assert len(src) == 0


def test_given_four_iovecs_add_iovec_returns_their_total() -> None:
    """Behaviour 76 (T: evbuffer/add_iovec)."""
    vecs = [b"EvBuffer", bytearray(b" add_iovec"), memoryview(b" test"), b"!" * 600]
    buf = Evbuffer()
    assert buf.add_iovec(vecs) == 8 + 10 + 5 + 600
    assert bytes(buf) == b"EvBuffer add_iovec test" + b"!" * 600


def test_given_many_small_printfs_levent_wastes_little_space() -> None:
    """Behaviour 77 (T: evbuffer/iterative): 1000 rounds of widths 1..99, waste < 12.5 %."""
    abc = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" * 2
    buf = Evbuffer()
    total = 0
    for _ in range(1000):
        for j in range(1, 100):
            buf.add_printf(b"%*.*s", j, j, abc)
            total += j
    assert len(buf) == total
    allocated, wasted, used = buf._get_waste()
    assert used == total
    assert wasted / allocated < 0.125
    assert len(buf.peek()) < total // 1000  # not one chunk per add


# ---------------------------------------------------------------------------
# basics
# ---------------------------------------------------------------------------


def test_given_a_new_buffer_it_is_empty_and_reprs_its_state() -> None:
    buf = Evbuffer()
    assert len(buf) == 0 and buf.get_length() == 0 and not buf
    assert bytes(buf) == b""
    assert buf.get_contiguous_space() == 0
    assert "len=0" in repr(buf)
    buf.add(b"x")
    assert buf and "len=1" in repr(buf)
    buf.freeze(True)
    assert "front-frozen" in repr(buf)


def test_given_adds_of_every_bytes_like_type_levent_keeps_them_in_order() -> None:
    import array

    buf = Evbuffer()
    buf.add(b"a")
    buf.add(bytearray(b"b"))
    buf.add(memoryview(b"xcx")[1:2])
    buf.add(array.array("B", b"d"))
    buf.add(b"E" * 5000)  # large bytes: kept by reference
    big = bytearray(b"F" * 5000)
    buf.add(big)
    big[0] = 0  # a copy was taken
    buf.add(b"")
    assert bytes(buf) == b"abcd" + b"E" * 5000 + b"F" * 5000


def test_given_bad_data_add_raises_type_error_and_the_buffer_stays_usable() -> None:
    buf = Evbuffer()
    buf.add(b"ok")
    for bad in ("text", 5, None, [1, 2]):
        with pytest.raises(TypeError):
            buf.add(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            buf.prepend(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        buf.add_iovec([b"a", "b"])  # type: ignore[list-item]
    assert bytes(buf) == b"ok"
    buf.add(b"!")
    assert bytes(buf) == b"ok!"


def test_given_negative_or_non_int_sizes_levent_raises_and_changes_nothing() -> None:
    buf = Evbuffer()
    buf.add(b"abc")
    for call in (
        lambda: buf.drain(-1),
        lambda: buf.remove(-1),
        lambda: buf.copyout(-2),
        lambda: buf.expand(-1),
        lambda: buf.reserve_space(-1),
        lambda: buf.reserve_space(1, 0),
        lambda: buf.remove_buffer(Evbuffer(), -1),
        lambda: buf.set_max_read(0),
        lambda: buf.ptr(-1),
        lambda: buf.readln(9),
        lambda: buf.search_eol(None, -1),
    ):
        with pytest.raises(ValueError):
            call()
    for call in (
        lambda: buf.drain("1"),  # type: ignore[arg-type]
        lambda: buf.remove(1.5),  # type: ignore[arg-type]
        lambda: buf.pullup(None),  # type: ignore[arg-type]
        lambda: buf.add_buffer(b"x"),  # type: ignore[arg-type]
        lambda: buf.remove_buffer(b"x", 1),  # type: ignore[arg-type]
        lambda: buf.search(b"a", 3),  # type: ignore[arg-type]
        lambda: buf.search("a"),  # type: ignore[arg-type]
        lambda: buf.add_printf(5),  # type: ignore[arg-type]
        lambda: buf.read("fd"),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError):
            call()
    assert bytes(buf) == b"abc"


def test_given_add_printf_with_str_or_bytes_levent_returns_the_bytes_added() -> None:
    buf = Evbuffer()
    assert buf.add_printf("%s=%d;", "héllo", 5) == len("héllo=5;".encode())
    assert buf.add_printf(b"%s|%03d", b"x", 7) == 5
    assert buf.add_printf("100%%") == 4
    assert buf.add_vprintf("%d-%d", (1, 2)) == 3
    assert bytes(buf) == "héllo=5;".encode() + b"x|007100%1-2"
    with pytest.raises(TypeError):
        buf.add_printf("%d", "not a number")
    assert len(buf) == 21


def test_given_remove_and_drain_across_chunks_levent_returns_the_right_bytes() -> None:
    buf = chained(b"abc", b"defg", b"hi")
    assert buf.remove(2) == b"ab"
    assert buf.get_contiguous_space() == 1
    assert buf.remove(3) == b"cde"
    buf.drain(2)
    assert bytes(buf) == b"hi"
    assert buf.remove(0) == b""
    buf.drain(0)
    assert bytes(buf) == b"hi"


def test_given_copyout_from_a_bad_pointer_levent_raises_value_error() -> None:
    buf = Evbuffer()
    buf.add(b"abcdef")
    with pytest.raises(ValueError):
        buf.copyout_from(EvbufferPtr(-1), 2)
    with pytest.raises(ValueError):
        buf.copyout_from(EvbufferPtr(7), 2)
    assert buf.copyout_from(buf.ptr(6), 2) == b""
    assert buf.copyout_from(None, 2) == b"ab"


def test_given_a_pointer_kept_across_changes_it_is_re_resolved_by_position() -> None:
    buf = chained(b"hello ", b"big ", b"world")
    ptr = buf.search(b"world")
    assert ptr.pos == 10
    buf.drain(6)  # the front moved; the pointer is used by its position now
    with pytest.raises(ValueError):
        buf.copyout_from(ptr, 10)  # position 10 is past the new end (9)
    ptr.pos = 4
    assert buf.copyout_from(ptr, 5) == b"world"
    assert buf.search(b"o", ptr).pos == 5
    assert EvbufferPtr(3) == EvbufferPtr(3)
    assert repr(EvbufferPtr(3)) == "EvbufferPtr(pos=3)"


def test_given_pullup_levent_makes_bytes_contiguous_without_changing_them() -> None:
    seen: list[EvbufferCbInfo] = []
    buf = chained(b"abc", b"def", b"ghi")
    buf.add_cb(lambda b, info, arg: seen.append(info))
    view = buf.pullup(5)
    assert view is not None and bytes(view) == b"abcde" and view.readonly
    assert buf.get_contiguous_space() == 5
    assert bytes(buf) == b"abcdefghi"
    view = buf.pullup()
    assert view is not None and bytes(view) == b"abcdefghi"
    assert len(buf.peek()) == 1
    assert seen == []  # pullup changes layout, not content


def test_given_find_legacy_levent_returns_a_view_of_the_match() -> None:
    buf = chained(b"GET /in", b"dex HTTP/1.1")
    view = buf.find(b"index")
    assert view is not None and bytes(view) == b"index"
    assert buf.find(b"nothing") is None
    assert bytes(buf) == b"GET /index HTTP/1.1"


def test_given_an_empty_pattern_search_matches_at_the_start_like_libevent() -> None:
    buf = Evbuffer()
    buf.add(b"abcdef")
    assert buf.search(b"").pos == 0
    assert buf.search(b"", buf.ptr(2)).pos == 2
    assert buf.search(b"d", EvbufferPtr(-1)).pos == -1


def test_given_a_pattern_spread_over_many_tiny_chunks_search_finds_it() -> None:
    text = b"xxabcabcabdxx"
    buf = chained(*[bytes([c]) for c in text])
    assert buf.search(b"abcabd").pos == text.find(b"abcabd")
    assert buf.search(b"abd", buf.ptr(8)).pos == 8
    assert buf.search(b"abd", buf.ptr(9)).pos == -1
    ptr, n = chained(b"a\r", b"\n", b"b").search_eol(None, EVBUFFER_EOL_CRLF_STRICT)
    assert (ptr.pos, n) == (1, 2)
    ptr, n = chained(b"a\r", b"\n", b"b").search_eol(None, EVBUFFER_EOL_CRLF)
    assert (ptr.pos, n) == (1, 2)
    ptr, n = chained(b"a\r", b"\n\r", b"\nb").search_eol(None, EVBUFFER_EOL_ANY)
    assert (ptr.pos, n) == (1, 4)


def test_given_a_line_arriving_one_byte_at_a_time_readln_does_not_rescan() -> None:
    """Thousands of one-byte chunks, readln after each: linear, not quadratic."""
    buf = Evbuffer()
    line = b"x" * 4000 + b"\r\n"
    for i, c in enumerate(line):
        tmp = Evbuffer()
        tmp.add(bytes([c]))
        buf.add_buffer(tmp)  # one chunk per byte
        got = buf.readln(EVBUFFER_EOL_CRLF_STRICT)
        if i < len(line) - 1:
            assert got is None
    assert got == b"x" * 4000
    assert len(buf) == 0
    # the cursor is dropped on front changes: a prepended line is still found
    buf.add(b"abc")
    assert buf.readln(EVBUFFER_EOL_LF) is None
    buf.prepend(b"new\n")
    assert buf.readln(EVBUFFER_EOL_LF) == b"new"
    assert buf.readln(EVBUFFER_EOL_LF) is None
    buf.drain(1)
    buf.add(b"\n")
    assert buf.readln(EVBUFFER_EOL_LF) == b"bc"


def test_given_readln_callbacks_fire_for_the_line_then_for_the_eol() -> None:
    """As libevent (ctypes probe): readln = remove(line) + drain(eol), two callbacks."""
    buf = Evbuffer()
    buf.add(b"line\r\nrest")
    seen: list[EvbufferCbInfo] = []
    buf.add_cb(lambda b, info, arg: seen.append(info))
    assert buf.readln(EVBUFFER_EOL_CRLF) == b"line"
    assert seen == [EvbufferCbInfo(10, 0, 4), EvbufferCbInfo(6, 0, 2)]


def test_given_add_buffer_levent_moves_chunks_and_empties_the_source() -> None:
    src = Evbuffer()
    src.add(b"x" * 5000)
    src.add(b"tail")
    chunks_before = len(src.peek())
    dst = Evbuffer()
    dst.add(b"head")
    log: list[tuple[str, EvbufferCbInfo]] = []
    src.add_cb(lambda b, info, arg: log.append(("src", info)))
    dst.add_cb(lambda b, info, arg: log.append(("dst", info)))
    dst.add_buffer(src)
    assert len(src) == 0 and bytes(src) == b""
    assert bytes(dst) == b"head" + b"x" * 5000 + b"tail"
    assert len(dst.peek()) == 1 + chunks_before
    assert log == [("src", EvbufferCbInfo(5004, 0, 5004)), ("dst", EvbufferCbInfo(4, 5004, 0))]
    dst.add_buffer(dst)  # adding a buffer to itself is a no-op, as libevent
    dst.add_buffer(Evbuffer())
    assert len(dst) == 5008


def test_given_remove_buffer_levent_moves_at_most_n_bytes() -> None:
    src = chained(b"a" * 3000, b"b" * 3000, b"c" * 3000)
    dst = Evbuffer()
    dst.add(b">")
    assert src.remove_buffer(dst, 4500) == 4500
    assert bytes(dst) == b">" + b"a" * 3000 + b"b" * 1500
    assert bytes(src) == b"b" * 1500 + b"c" * 3000
    assert src.remove_buffer(dst, 10) == 10  # small split: copied
    assert src.remove_buffer(dst, 0) == 0
    assert src.remove_buffer(src, 5) == 0
    assert src.remove_buffer(dst, 10**9) == 4490
    assert len(src) == 0
    assert bytes(dst) == b">" + b"a" * 3000 + b"b" * 3000 + b"c" * 3000


def test_given_remove_buffer_splits_a_reference_the_cleanup_waits_for_both_halves() -> None:
    calls: list[int] = []
    src = Evbuffer()
    data = b"R" * 2000
    src.add_reference(data, lambda d, n, a: calls.append(n))
    dst = Evbuffer()
    assert src.remove_buffer(dst, 1500) == 1500  # shared, not copied
    src.drain(len(src))
    assert calls == []
    dst.drain(1499)
    assert calls == []
    dst.drain(1)
    assert calls == [2000]


def test_given_expand_then_adds_levent_uses_the_room_it_made() -> None:
    buf = Evbuffer()
    buf.expand(10000)
    buf.add(b"a" * 3000)
    buf.add(b"b" * 3000)
    assert len(buf.peek()) == 1
    assert bytes(buf) == b"a" * 3000 + b"b" * 3000


def test_given_reserve_and_commit_levent_adds_exactly_what_was_committed() -> None:
    buf = Evbuffer()
    buf.add(b"start:")
    vecs = buf.reserve_space(3000)
    assert sum(len(v) for v in vecs) >= 3000
    assert len(buf) == 6  # nothing added until the commit
    payload = b"p" * 3000
    written = 0
    used: list[memoryview] = []
    for v in vecs:
        k = min(len(v), len(payload) - written)
        v[:k] = payload[written : written + k]
        used.append(v[:k])
        written += k
    buf.commit_space(used)
    assert bytes(buf) == b"start:" + payload
    with pytest.raises(EvbufferError):
        buf.commit_space(used)  # already committed
    one = buf.reserve_space(10, 1)
    assert len(one) == 1 and len(one[0]) >= 10
    one[0][:2] = b"ok"
    buf.commit_space([one[0][:2]])
    assert bytes(buf).endswith(b"ok")
    buf.commit_space([])


def test_given_data_added_after_reserve_commit_raises_evbuffer_error() -> None:
    buf = Evbuffer()
    vecs = buf.reserve_space(100)
    buf.add(b"intruder")  # the reservation is void now (and its memory reused)
    with pytest.raises(EvbufferError):
        buf.commit_space([vecs[0][:3]])
    other = Evbuffer().reserve_space(10)
    vecs = buf.reserve_space(10)
    with pytest.raises(EvbufferError):
        buf.commit_space([other[0][:1]])
    with pytest.raises(EvbufferError):
        buf.commit_space([memoryview(bytearray(100))])
    assert bytes(buf) == b"intruder"
    vecs[0][:1] = b"!"
    buf.commit_space([vecs[0][:1]])
    assert bytes(buf) == b"intruder!"


def test_given_a_large_first_chunk_drained_slowly_its_dead_prefix_is_released() -> None:
    buf = Evbuffer()
    buf.add(b"z" * 1_000_000)
    buf.drain(900_000)
    allocated, _wasted, used = buf._get_waste()
    assert used == 100_000
    assert allocated < 200_000
    assert bytes(buf) == b"z" * 100_000


def test_given_callbacks_added_later_run_first_like_libevent() -> None:
    buf = Evbuffer()
    order: list[str] = []
    buf.add_cb(lambda b, i, a: order.append("first"))
    buf.add_cb(lambda b, i, a: order.append("second"))
    buf.add(b"x")
    assert order == ["second", "first"]


def test_given_a_callback_removing_another_the_removed_one_does_not_run() -> None:
    buf = Evbuffer()
    ran: list[str] = []
    entries: dict[str, Any] = {}

    def killer(b: Evbuffer, info: EvbufferCbInfo, arg: object) -> None:
        ran.append("killer")
        b.remove_cb_entry(entries["victim"])

    entries["victim"] = buf.add_cb(lambda b, i, a: ran.append("victim"))
    buf.add_cb(killer)
    buf.add(b"x")
    assert ran == ["killer"]
    with pytest.raises(ValueError):
        buf.remove_cb_entry(entries["victim"])


def test_given_deferred_callbacks_levent_runs_them_from_the_loop_with_summed_info() -> None:
    with EventBase() as base:
        buf = Evbuffer()
        seen: list[EvbufferCbInfo] = []
        buf.add_cb(lambda b, info, arg: seen.append(info))
        buf.defer_callbacks(base)
        buf.add(b"hello")
        buf.add(b" world")
        buf.drain(3)
        assert seen == []
        base.loop(EVLOOP_NONBLOCK)
        assert seen == [EvbufferCbInfo(0, 11, 3)]
        base.loop(EVLOOP_NONBLOCK)
        assert len(seen) == 1
        buf.add(b"!")
        buf.free()  # a pending deferred run is cancelled by free()
        base.loop(EVLOOP_NONBLOCK)
        assert len(seen) == 1


def test_given_locking_enabled_threads_can_share_a_buffer() -> None:
    buf = Evbuffer()
    buf.enable_locking()
    with pytest.raises(EvbufferError):
        buf.enable_locking()

    def writer() -> None:
        for _ in range(2000):
            buf.add(b"ab")

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(buf) == 12000
    buf.lock()
    try:
        assert buf.remove(2) == b"ab"
    finally:
        buf.unlock()
    own = Evbuffer()
    lock = threading.Lock()
    own.enable_locking(lock)
    own.lock()
    assert lock.locked()
    own.unlock()
    own.add(b"x")
    assert not lock.locked()
    Evbuffer().lock()  # no-op without locking


def test_given_flags_levent_keeps_them() -> None:
    buf = Evbuffer()
    buf.set_flags(EVBUFFER_FLAG_DRAINS_TO_FD)
    assert buf.flags == EVBUFFER_FLAG_DRAINS_TO_FD
    buf.clear_flags(EVBUFFER_FLAG_DRAINS_TO_FD)
    assert buf.flags == 0


def test_given_free_or_a_with_block_levent_releases_references() -> None:
    calls: list[object] = []
    with Evbuffer() as buf:
        buf.add_reference(b"abc", lambda d, n, a: calls.append(a), "arg")
        buf.add_cb(lambda b, i, a: calls.append("cb"))
    assert calls == ["arg"]  # the callback is gone before the content
    assert len(buf) == 0
    buf.add(b"still usable")
    assert bytes(buf) == b"still usable"
    buf.free()
    buf.free()


def test_given_a_reference_cleanup_that_raises_the_buffer_stays_consistent() -> None:
    buf = Evbuffer()
    later: list[int] = []

    def bad(d: object, n: int, a: object) -> None:
        raise RuntimeError("cleanup failed")

    buf.add_reference(b"one", bad)
    buf.add_reference(b"two", lambda d, n, a: later.append(n))
    buf.add(b"rest")
    with pytest.raises(RuntimeError):
        buf.drain(6)
    assert later == [3]
    assert bytes(buf) == b"rest"


# ---------------------------------------------------------------------------
# fd I/O
# ---------------------------------------------------------------------------


def test_given_data_on_a_socket_read_takes_at_most_max_read(pair: Any) -> None:
    a, b = pair
    b.sendall(b"q" * 10000)
    buf = Evbuffer()
    assert buf.get_max_read() == 4096
    assert buf.read(a) == 4096
    assert buf.read(a.fileno(), 100) == 100
    buf.set_max_read(16384)
    assert buf.read(a, -1) == 10000 - 4196
    assert bytes(buf) == b"q" * 10000
    assert buf.read(a, 0) == 0
    a.setblocking(False)
    with pytest.raises(BlockingIOError):
        buf.read(a)
    b.shutdown(socket.SHUT_WR)
    assert buf.read(a) == 0  # EOF
    assert len(buf) == 10000


def test_given_a_pipe_read_appends_into_the_tail_without_extra_chunks() -> None:
    r, w = os.pipe()
    try:
        buf = Evbuffer()
        buf.add(b"head:")
        os.write(w, b"abc")
        assert buf.read(r) == 3
        os.write(w, b"def")
        assert buf.read(r) == 3
        # The add left an exact-size tail (adds grow it in place); the first read
        # opens a chunk with spare room, and the second read lands in that room.
        assert len(buf.peek()) == 2
        assert bytes(buf) == b"head:abcdef"
        os.close(w)
        w = -1
        assert buf.read(r) == 0
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_given_a_closed_fd_read_and_write_raise_os_error_and_the_buffer_survives() -> None:
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    buf = Evbuffer()
    buf.add(b"data")
    with pytest.raises(OSError) as info:
        buf.read(r)
    assert info.value.errno == errno.EBADF
    with pytest.raises(OSError):
        buf.write(w)
    assert bytes(buf) == b"data"
    closed = socket.socket()
    closed.close()
    with pytest.raises(OSError):
        buf.write(closed)
    assert bytes(buf) == b"data"


def test_given_many_chunks_write_sends_them_in_one_call_and_drains(pair: Any) -> None:
    a, b = pair
    parts = [b"%04d," % i for i in range(300)]
    buf = chained(*parts)
    expected = b"".join(parts)
    sent = buf.write(a)
    assert 0 < sent <= len(expected)
    assert len(buf) == len(expected) - sent
    while len(buf):
        buf.write(a)
    assert recv_all(b, len(expected)) == expected
    assert buf.write(a) == 0  # empty buffer: nothing to write


def test_given_write_atmost_levent_writes_no_more_than_asked(pair: Any) -> None:
    a, b = pair
    buf = chained(b"hello ", b"world")
    assert buf.write_atmost(a, 8) == 8
    assert b.recv(100) == b"hello wo"
    assert bytes(buf) == b"rld"
    assert buf.write_atmost(a, -1) == 3
    assert b.recv(100) == b"rld"


def test_given_a_peer_that_went_away_write_raises_broken_pipe(pair: Any) -> None:
    a, b = pair
    b.close()
    buf = Evbuffer()
    buf.add(b"x" * 100)
    with pytest.raises(OSError) as info:
        for _ in range(10):
            buf.write(a)
    assert info.value.errno in (errno.EPIPE, errno.ECONNRESET)


def _file(tmp_path: Path, data: bytes) -> int:
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    return os.open(path, os.O_RDONLY)


def test_given_add_file_write_to_a_socket_sends_the_range_and_closes_the_fd(
    tmp_path: Path, pair: Any
) -> None:
    a, b = pair
    data = bytes(range(256)) * 40
    fd = _file(tmp_path, data)
    buf = Evbuffer()
    buf.add(b"<")
    buf.add_file(fd, 100, 5000)
    buf.add(b">")
    assert len(buf) == 5002
    while len(buf):
        buf.write(a)
    assert recv_all(b, 5002) == b"<" + data[100:5100] + b">"
    with pytest.raises(OSError):
        os.fstat(fd)  # the buffer closed it


def test_given_add_file_to_eof_levent_reads_it_for_copyout_and_pipes(tmp_path: Path) -> None:
    data = b"line one\nline two\n" * 300
    fd = _file(tmp_path, data)
    buf = Evbuffer()
    buf.add_file(fd, 9)
    assert len(buf) == len(data) - 9
    assert buf.readln(EVBUFFER_EOL_LF) == b"line two"
    assert buf.search(b"two").pos == 14
    r, w = os.pipe()
    try:
        out = b""
        while len(buf):
            buf.write(w)
            out += os.read(r, 1 << 16)
        assert out == data[18:]
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize("flags", [0, EVBUF_FS_DISABLE_MMAP, EVBUF_FS_DISABLE_SENDFILE])
def test_given_a_file_segment_added_twice_it_is_freed_after_both_uses(
    tmp_path: Path, pair: Any, flags: int
) -> None:
    a, b = pair
    data = b"0123456789" * 100
    fd = _file(tmp_path, data)
    seg = EvbufferFileSegment(fd, 10, 500, flags | EVBUF_FS_CLOSE_ON_FREE)
    freed: list[tuple[object, int, object]] = []
    seg.add_cleanup_cb(lambda s, f, arg: freed.append((s, f, arg)), "arg")
    buf1 = Evbuffer()
    buf2 = Evbuffer()
    buf1.add_file_segment(seg, 0, 100)
    buf2.add_file_segment(seg, 400)  # to the end of the segment
    seg.free()
    assert freed == []
    assert buf1.copyout(5) == data[10:15]
    while len(buf2):
        buf2.write(a)
    assert recv_all(b, 100) == data[410:510]
    assert freed == []
    buf1.drain(100)
    assert len(freed) == 1 and freed[0][0] is seg and freed[0][2] == "arg"
    with pytest.raises(OSError):
        os.fstat(fd)


def test_given_bad_file_segment_arguments_levent_raises(tmp_path: Path) -> None:
    fd = _file(tmp_path, b"abc")
    try:
        with pytest.raises(ValueError):
            EvbufferFileSegment(fd, -1)
        with pytest.raises(ValueError):
            EvbufferFileSegment(fd, 0, -2)
        seg = EvbufferFileSegment(fd)
        assert seg.length == 3
        buf = Evbuffer()
        with pytest.raises(ValueError):
            buf.add_file_segment(seg, 4)
        with pytest.raises(ValueError):
            buf.add_file_segment(seg, 1, 3)
        with pytest.raises(TypeError):
            buf.add_file_segment(b"seg", 0)  # type: ignore[arg-type]
        seg.free()
        with pytest.raises(EvbufferError):
            buf.add_file_segment(seg)
        assert len(buf) == 0
        buf2 = Evbuffer()
        buf2.add_file(os.dup(fd))
        with pytest.raises(EvbufferError):
            Evbuffer().add_buffer_reference(buf2)  # file segments cannot be shared
    finally:
        os.close(fd)
    with pytest.raises(OSError):
        EvbufferFileSegment(fd)


def test_given_a_freed_buffer_its_file_fds_are_closed(tmp_path: Path) -> None:
    fd = _file(tmp_path, b"content")
    buf = Evbuffer()
    buf.add_file(fd)
    buf.free()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_given_the_constants_they_have_libevent_values() -> None:
    assert (EVBUFFER_EOL_ANY, EVBUFFER_EOL_CRLF, EVBUFFER_EOL_CRLF_STRICT) == (0, 1, 2)
    assert (EVBUFFER_EOL_LF, EVBUFFER_EOL_NUL) == (3, 4)
    assert (EVBUFFER_PTR_SET, EVBUFFER_PTR_ADD) == (0, 1)
    assert EVBUFFER_CB_ENABLED == 1 and EVBUFFER_FLAG_DRAINS_TO_FD == 1
    assert (EVBUF_FS_CLOSE_ON_FREE, EVBUF_FS_DISABLE_MMAP, EVBUF_FS_DISABLE_SENDFILE) == (1, 2, 4)
    assert levent.EVBUF_FS_DISABLE_LOCKING == 8
    assert levent.EVBUFFER_EOL.CRLF is EVBUFFER_EOL_CRLF


def test_given_many_operations_the_shared_empty_lists_stay_empty() -> None:
    """Empty buffers share one chunk list, callback list and reservation list; none is ever
    changed in place (a buffer makes its own list before its first change)."""
    import levent.buffer as lb

    a, b = Evbuffer(), Evbuffer()
    a.add(b"x" * 10000)
    b.add_buffer(a)
    a.prepend(b"front")
    a.prepend_buffer(b)
    b.add_cb(lambda buf, info, arg: None)
    b.remove_buffer(a, 3)
    a.reserve_space(100)
    a.drain(len(a))
    Evbuffer().add_buffer_reference(b)
    b.free()
    a.free()
    assert lb._NO_CHUNKS == [] and lb._NO_CBS == [] and lb._NO_RESV == []
