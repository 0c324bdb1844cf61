"""Evbuffer against a plain ``bytes`` model of libevent's semantics (hypothesis).

``BytesModel`` states libevent 2.1's evbuffer rules on a flat ``bytes`` value:
where a line ends for each EOL style (libevent-reference.md §3.6, behaviours
59-64, and buffer.c's ``evbuffer_search_eol``), what ``search``/``search_range``
find, which ``ptr_set`` positions are valid, and how reads truncate. A
stateful test then drives random operation sequences on a real buffer and on
the model, comparing ``len()``, ``bytes()`` and every returned value after
every step.

The same machine runs against ``levent.Evbuffer`` and against libevent's C
evbuffer through ctypes (``libevent_ctypes.CEvbuffer``, same method names): the
libevent run proves the model right, the levent run proves levent matches it.
Data arrives in small random pieces from an alphabet rich in ``\\r``, ``\\n``
and ``\\0``, and whole foreign buffers of small chunks are moved in, so line
ends and needles straddle chunk boundaries at every position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

EOL_ANY, EOL_CRLF, EOL_CRLF_STRICT, EOL_LF, EOL_NUL = range(5)
EOL_NAMES = ("ANY", "CRLF", "CRLF_STRICT", "LF", "NUL")
PTR_SET, PTR_ADD = 0, 1


# -- the model ---------------------------------------------------------------------------


class BytesModel:
    """libevent 2.1's evbuffer semantics over one flat ``bytes`` value.

    Positions are plain ints; ``None`` stands for a NULL ``start``/``end``
    pointer. Every method mirrors the libevent function of the same name.
    """

    def __init__(self, data: bytes = b"") -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    # writes and moves
    def add(self, piece: bytes) -> None:
        self.data += piece

    def prepend(self, piece: bytes) -> None:
        self.data = piece + self.data

    def drain(self, n: int) -> None:
        self.data = self.data[n:]

    def remove(self, n: int) -> bytes:
        out, self.data = self.data[:n], self.data[n:]
        return out

    def copyout(self, n: int) -> bytes:
        return self.data[:n]

    def copyout_from(self, pos: int, n: int) -> bytes:
        return self.data[pos : pos + n]

    def pullup(self, n: int) -> bytes | None:
        """NULL when ``n == 0``, ``n > len`` or the buffer is empty with ``n = -1``."""
        if n < 0:
            n = len(self.data)
        if n == 0 or n > len(self.data):
            return None
        return self.data[:n]

    # positions
    def ptr_set(self, current: int, position: int, how: int) -> int:
        """The new ``ptr.pos``; -1 when out of 0..len (libevent returns -1, pos -1).

        ``ADD`` to an already invalid pointer fails and leaves it at -1.
        """
        if how == PTR_SET:
            return position if position <= len(self.data) else -1
        if current < 0:
            return -1
        return current + position if current + position <= len(self.data) else -1

    def search(self, what: bytes, start: int | None) -> int:
        """First match at or after ``start``; an empty needle "matches" at ``start``."""
        s = 0 if start is None else start
        if not what:
            return s
        return self.data.find(what, s)

    def search_range(self, what: bytes, start: int | None, end: int | None) -> int:
        """As ``search``, but the first match must end at or before ``end``."""
        s = 0 if start is None else start
        if not what:
            return s
        found = self.data.find(what, s)
        if found >= 0 and end is not None and found + len(what) > end:
            return -1
        return found

    def search_eol(self, start: int | None, style: int) -> tuple[int, int]:
        """(position, EOL length) of the first line end at or after ``start``; (-1, 0) if none.

        - ANY: the first ``\\r`` or ``\\n``; the EOL is the whole run of ``\\r``/``\\n``
          bytes from there (so ``"\\n\\r"`` or ``"\\r\\r\\n"`` is one EOL, and a lone
          trailing ``\\r`` already ends a line).
        - CRLF: the first ``\\n``, taking one ``\\r`` before it as part of the EOL,
          unless that ``\\n`` is exactly at ``start`` (libevent does not back up past
          the start). A lone ``\\r`` is ordinary data.
        - CRLF_STRICT: the first ``"\\r\\n"``, length 2; lone ``\\r`` or ``\\n`` is data.
        - LF: the first ``\\n``; NUL: the first ``\\0``; length 1.
        """
        data = self.data
        s = 0 if start is None else start
        if s >= len(data):
            return -1, 0
        if style == EOL_ANY:
            cr, lf = data.find(b"\r", s), data.find(b"\n", s)
            hits = [i for i in (cr, lf) if i >= 0]
            if not hits:
                return -1, 0
            i = min(hits)
            j = i
            while j < len(data) and data[j] in b"\r\n":
                j += 1
            return i, j - i
        if style == EOL_CRLF:
            i = data.find(b"\n", s)
            if i < 0:
                return -1, 0
            if i > s and data[i - 1] == 0x0D:
                return i - 1, 2
            return i, 1
        if style == EOL_CRLF_STRICT:
            i = data.find(b"\r\n", s)
            return (i, 2) if i >= 0 else (-1, 0)
        i = data.find(b"\n" if style == EOL_LF else b"\0", s)
        return (i, 1) if i >= 0 else (-1, 0)

    def readln(self, style: int) -> bytes | None:
        """Remove one line without its EOL; None and unchanged when no line end yet."""
        pos, eol = self.search_eol(None, style)
        if pos < 0:
            return None
        line = self.data[:pos]
        self.data = self.data[pos + eol :]
        return line


# -- the implementations under test --------------------------------------------------------


@dataclass(frozen=True)
class Impl:
    """How to build buffers and pointers of one library, and its EOL/how constants."""

    name: str
    new_buffer: Callable[[], Any]
    new_ptr: Callable[[], Any]
    eol: tuple[Any, ...]
    how: tuple[Any, Any]


def levent_impl() -> Impl:
    import levent
    from levent.buffer import Evbuffer, EvbufferPtr

    eol = tuple(getattr(levent, f"EVBUFFER_EOL_{name}") for name in EOL_NAMES)
    how = (levent.EVBUFFER_PTR_SET, levent.EVBUFFER_PTR_ADD)
    return Impl("levent", Evbuffer, EvbufferPtr, eol, how)


def libevent_impl() -> Impl:
    from libevent_ctypes import CEvbuffer, CEvbufferPtr, evbuffer_lib

    evbuffer_lib()  # skips the test when libevent is absent
    return Impl("libevent", CEvbuffer, CEvbufferPtr, tuple(range(5)), (PTR_SET, PTR_ADD))


IMPLS: dict[str, Callable[[], Impl]] = {"levent": levent_impl, "libevent": libevent_impl}


def make_ptr(impl: Impl, buf: Any, position: int, add: int | None = None) -> Any:
    """A pointer at ``position`` (SET), optionally moved on by ``add`` (ADD)."""
    ptr = impl.new_ptr()
    buf.ptr_set(ptr, position, impl.how[PTR_SET])
    if add is not None:
        buf.ptr_set(ptr, add, impl.how[PTR_ADD])
    assert ptr.pos == position + (add or 0)
    return ptr


def fill(impl: Impl, chunks: list[bytes]) -> Any:
    """A buffer holding ``chunks`` as separate chains (each moved in with add_buffer)."""
    buf = impl.new_buffer()
    for chunk in chunks:
        tmp = impl.new_buffer()
        tmp.add(chunk)
        buf.add_buffer(tmp)
        assert len(tmp) == 0
        tmp.free()
    return buf


# -- strategies --------------------------------------------------------------------------

_alphabet = st.sampled_from([b"\r", b"\n", b"\0", b"a", b"a", b"b", b"\r\n"])
pieces = st.lists(_alphabet, max_size=6).map(b"".join)
chunk_lists = st.lists(pieces, max_size=6)
needles = st.lists(st.sampled_from([b"\r", b"\n", b"\0", b"a", b"b"]), min_size=1, max_size=4).map(
    b"".join
)
styles = st.integers(0, 4)


# -- the stateful test -------------------------------------------------------------------


class BufferMachine(RuleBasedStateMachine):
    """Random operation sequences on one buffer and on ``BytesModel``."""

    def __init__(self, impl: Impl) -> None:
        super().__init__()
        self.impl = impl
        self.buf = impl.new_buffer()
        self.model = BytesModel()
        # a second buffer that chunks move to and from (shared and split chunks)
        self.other = impl.new_buffer()
        self.other_model = BytesModel()

    def teardown(self) -> None:
        self.buf.free()
        self.other.free()

    # helpers
    def _pos(self, data: st.DataObject, slack: int = 0) -> int:
        return data.draw(st.integers(0, len(self.model) + slack), label="pos")

    def _start(self, data: st.DataObject) -> tuple[Any, int | None]:
        """Maybe a pointer (built by SET, or SET then ADD), and its position for the model."""
        kind = data.draw(st.sampled_from(["none", "set", "set+add"]), label="start")
        if kind == "none":
            return None, None
        pos = self._pos(data)
        if kind == "set":
            return make_ptr(self.impl, self.buf, pos), pos
        first = data.draw(st.integers(0, pos), label="set first")
        return make_ptr(self.impl, self.buf, first, pos - first), pos

    # writes
    @rule(piece=pieces)
    def add(self, piece: bytes) -> None:
        self.buf.add(piece)
        self.model.add(piece)

    @rule(piece=pieces)
    def prepend(self, piece: bytes) -> None:
        self.buf.prepend(piece)
        self.model.prepend(piece)

    @rule(
        piece=pieces.filter(bool), size=st.sampled_from([600, 5000, 70_000]), to_other=st.booleans()
    )
    def add_big(self, piece: bytes, size: int, to_other: bool) -> None:
        """Large adds: zero-copy chunks, chunk splits and compaction after big drains."""
        big = (piece * (size // len(piece) + 1))[:size]
        buf, model = (self.other, self.other_model) if to_other else (self.buf, self.model)
        buf.add(big)
        model.add(big)

    @rule(piece=pieces)
    def other_add(self, piece: bytes) -> None:
        self.other.add(piece)
        self.other_model.add(piece)

    @rule(data=st.data())
    def move_to_other(self, data: st.DataObject) -> None:
        n = self._pos(data, slack=3)
        moved = self.buf.remove_buffer(self.other, n)
        chunk = self.model.remove(n)
        assert moved == len(chunk)
        self.other_model.add(chunk)

    @rule(front=st.booleans())
    def move_back_from_other(self, front: bool) -> None:
        if front:
            self.buf.prepend_buffer(self.other)
            self.model.prepend(self.other_model.data)
        else:
            self.buf.add_buffer(self.other)
            self.model.add(self.other_model.data)
        self.other_model = BytesModel()

    @rule(chunks=chunk_lists, front=st.booleans())
    def add_or_prepend_buffer(self, chunks: list[bytes], front: bool) -> None:
        src = fill(self.impl, chunks)
        if front:
            self.buf.prepend_buffer(src)
            self.model.prepend(b"".join(chunks))
        else:
            self.buf.add_buffer(src)
            self.model.add(b"".join(chunks))
        assert len(src) == 0
        assert bytes(src) == b""
        src.free()

    @rule(data=st.data(), n=st.integers(1, 300))
    def reserve_and_commit(self, data: st.DataObject, n: int) -> None:
        views = self.buf.reserve_space(n, 2)
        assert 1 <= len(views) <= 2
        assert sum(len(v) for v in views) >= n
        k = data.draw(st.integers(0, n), label="commit bytes")
        payload = data.draw(st.binary(min_size=k, max_size=k), label="payload")
        committed = []
        done = 0
        for view in views:
            take = min(len(view), k - done)
            view[:take] = payload[done : done + take]
            committed.append(view[:take])
            done += take
        self.buf.commit_space(committed)
        self.model.add(payload)

    # reads
    @rule(data=st.data())
    def remove_buffer(self, data: st.DataObject) -> None:
        n = self._pos(data, slack=3)
        dst = self.impl.new_buffer()
        dst.add(b"pre")
        moved = self.buf.remove_buffer(dst, n)
        expect = self.model.remove(n)
        assert moved == len(expect)
        assert bytes(dst) == b"pre" + expect
        dst.free()

    @rule(data=st.data())
    def drain(self, data: st.DataObject) -> None:
        n = self._pos(data, slack=3)
        assert self.buf.drain(n) is None
        self.model.drain(n)

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        n = self._pos(data, slack=3)
        assert self.buf.remove(n) == self.model.remove(n)

    @rule(data=st.data())
    def copyout(self, data: st.DataObject) -> None:
        n = self._pos(data, slack=3)
        assert self.buf.copyout(n) == self.model.copyout(n)

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def copyout_from(self, data: st.DataObject) -> None:
        ptr, pos = self._start(data)
        if ptr is None:
            ptr, pos = make_ptr(self.impl, self.buf, 0), 0
        n = data.draw(st.integers(0, len(self.model) + 3), label="n")
        assert pos is not None
        assert self.buf.copyout_from(ptr, n) == self.model.copyout_from(pos, n)

    @rule(data=st.data())
    def pullup(self, data: st.DataObject) -> None:
        n = data.draw(st.one_of(st.just(-1), st.integers(0, len(self.model) + 2)), label="n")
        view = self.buf.pullup(n)
        expect = self.model.pullup(n)
        if expect is None:
            assert view is None
            return
        assert view is not None
        assert bytes(view) == expect
        assert self.buf.get_contiguous_space() >= len(expect)

    @rule(style=styles)
    def readln(self, style: int) -> None:
        assert self.buf.readln(self.impl.eol[style]) == self.model.readln(style)

    # searches
    @rule(data=st.data(), what=needles)
    def search(self, data: st.DataObject, what: bytes) -> None:
        if data.draw(st.booleans(), label="needle from content") and len(self.model):
            i = self._pos(data)
            what = self.model.data[i : i + len(what)] or what
        ptr, pos = self._start(data)
        assert self.buf.search(what, ptr).pos == self.model.search(what, pos)

    @rule(data=st.data(), what=needles)
    def search_range(self, data: st.DataObject, what: bytes) -> None:
        ptr, pos = self._start(data)
        end, end_pos = self._start(data)
        found = self.buf.search_range(what, ptr, end)
        assert found.pos == self.model.search_range(what, pos, end_pos)

    @rule(data=st.data(), style=styles)
    def search_eol(self, data: st.DataObject, style: int) -> None:
        ptr, pos = self._start(data)
        found, eol_len = self.buf.search_eol(ptr, self.impl.eol[style])
        assert (found.pos, eol_len) == self.model.search_eol(pos, style)

    @rule(data=st.data())
    def ptr_set(self, data: st.DataObject) -> None:
        ptr = self.impl.new_ptr()
        first = self._pos(data, slack=2)
        expect = self.model.ptr_set(0, first, PTR_SET)
        if expect < 0:
            with pytest.raises(ValueError):
                self.buf.ptr_set(ptr, first, self.impl.how[PTR_SET])
        else:
            self.buf.ptr_set(ptr, first, self.impl.how[PTR_SET])
        assert ptr.pos == expect
        step = self._pos(data, slack=2)
        expect = self.model.ptr_set(ptr.pos, step, PTR_ADD)
        if expect < 0:
            with pytest.raises(ValueError):
                self.buf.ptr_set(ptr, step, self.impl.how[PTR_ADD])
        else:
            self.buf.ptr_set(ptr, step, self.impl.how[PTR_ADD])
            # the pointer built by ADD resolves to the right place
            assert self.buf.copyout_from(ptr, 4) == self.model.copyout_from(expect, 4)
        assert ptr.pos == expect

    @rule(data=st.data())
    def peek(self, data: st.DataObject) -> None:
        length = data.draw(st.one_of(st.just(-1), st.integers(0, len(self.model) + 2)), "len")
        ptr, pos = self._start(data)
        joined = b"".join(bytes(v) for v in self.buf.peek(length, ptr))
        rest = self.model.data[pos or 0 :]
        # the extents are the buffer's bytes from start on; the last may run past length
        assert rest.startswith(joined)
        if length < 0:
            assert joined == rest
        else:
            assert len(joined) >= min(length, len(rest))

    @invariant()
    def same_content(self) -> None:
        assert len(self.buf) == len(self.model)
        assert bytes(self.buf) == self.model.data
        assert len(self.other) == len(self.other_model)
        assert bytes(self.other) == self.other_model.data


@pytest.mark.parametrize("name", sorted(IMPLS))
def test_random_operation_sequences_match_the_bytes_model(name: str) -> None:
    """Given random add/prepend/move/drain/read/search/peek/reserve sequences, every
    result and the content after every step equal the bytes model's."""
    impl = IMPLS[name]()
    run_state_machine_as_test(
        lambda: BufferMachine(impl),
        settings=settings(
            max_examples=120,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# -- properties over arbitrary chunkings ---------------------------------------------------

_prop_settings = settings(max_examples=150, deadline=None)


@pytest.mark.parametrize("name", sorted(IMPLS))
def test_readln_over_any_chunking_yields_the_models_lines(name: str) -> None:
    """Given content split into arbitrary chains, repeated readln(style) returns the
    model's lines in order and leaves the model's remainder."""
    impl = IMPLS[name]()

    @_prop_settings
    @given(chunks=st.lists(pieces, max_size=12), style=styles)
    def check(chunks: list[bytes], style: int) -> None:
        buf = fill(impl, chunks)
        model = BytesModel(b"".join(chunks))
        while True:
            line = buf.readln(impl.eol[style])
            assert line == model.readln(style)
            assert bytes(buf) == model.data
            if line is None:
                break
        buf.free()

    check()


@pytest.mark.parametrize("name", sorted(IMPLS))
def test_search_over_any_chunking_finds_the_models_positions(name: str) -> None:
    """Given content split into arbitrary chains, search, search_range and search_eol
    from every start position agree with the model."""
    impl = IMPLS[name]()

    @_prop_settings
    @given(chunks=st.lists(pieces, max_size=8), what=needles, style=styles, cut=st.integers(0, 40))
    def check(chunks: list[bytes], what: bytes, style: int, cut: int) -> None:
        buf = fill(impl, chunks)
        model = BytesModel(b"".join(chunks))
        end = make_ptr(impl, buf, min(cut, len(model)))
        for start in range(len(model) + 1):
            ptr = make_ptr(impl, buf, start)
            assert buf.search(what, ptr).pos == model.search(what, start)
            assert buf.search_range(what, ptr, end).pos == model.search_range(what, start, end.pos)
            found, eol_len = buf.search_eol(ptr, impl.eol[style])
            assert (found.pos, eol_len) == model.search_eol(start, style)
        buf.free()

    check()


@pytest.mark.parametrize("name", sorted(IMPLS))
def test_readln_while_a_line_trickles_in_matches_the_model(name: str) -> None:
    """Given data arriving in small pieces (plain adds or moved-in chains) with a readln of
    a random style after each piece, every answer matches the model (the "scanned so far"
    state a readln keeps must never skip or re-find a line end)."""
    impl = IMPLS[name]()

    @_prop_settings
    @given(steps=st.lists(st.tuples(pieces, styles, st.booleans()), max_size=30))
    def check(steps: list[tuple[bytes, int, bool]]) -> None:
        buf = impl.new_buffer()
        model = BytesModel()
        for piece, style, as_chain in steps:
            if as_chain:
                tmp = fill(impl, [piece])
                buf.add_buffer(tmp)
                tmp.free()
            else:
                buf.add(piece)
            model.add(piece)
            assert buf.readln(impl.eol[style]) == model.readln(style)
            assert bytes(buf) == model.data
        buf.free()

    check()
