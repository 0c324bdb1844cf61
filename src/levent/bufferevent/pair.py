"""Paired bufferevents (libevent's ``bufferevent_pair.c``): two ends, no kernel in between.

What one end writes moves into the other end's input at once (inside the
write), as long as the writer has EV_WRITE enabled and the reader has EV_READ
enabled and is not suspended; only the room under the reader's high watermark
moves, and the rest follows as the reader drains. Callbacks are always
deferred (``BEV_OPT_DEFER_CALLBACKS`` is forced on), so a write never runs the
partner's read callback from inside the writer's code.

Timeouts are libevent's generic ones (``GenericTimeoutBufferEvent``): the read
timeout runs while reading is enabled, the write timeout while writing is
enabled *and* output is waiting; any transfer restarts both ends' timers.

With ``BEV_OPT_THREADSAFE`` both ends share one lock (as ``bufferevent_pair_new``
does): a transfer touches both, so either end's lock guards the pair.
"""

from __future__ import annotations

from typing import Final

from ..base import EventBase
from ..constants import EV
from .constants import BEV_EVENT, BEV_OPT
from .core import BevLock, BufferEvent, GenericTimeoutBufferEvent

__all__ = ["PairBufferEvent"]

_READ: Final = int(EV.READ)
_WRITE: Final = int(EV.WRITE)
_EOF: Final = int(BEV_EVENT.EOF)
_READING: Final = int(BEV_EVENT.READING)
_WRITING: Final = int(BEV_EVENT.WRITING)


class PairBufferEvent(GenericTimeoutBufferEvent):
    """One end of a pair (``bufferevent_pair_new``); see ``BufferEvent.pair``."""

    __slots__ = ("_partner",)

    def __init__(self, base: EventBase, options: int = 0, lock: BevLock | None = None) -> None:
        super().__init__(base, int(options) | BEV_OPT.DEFER_CALLBACKS, lock)
        self._partner: PairBufferEvent | None = None

    @classmethod
    def new_pair(cls, base: EventBase, options: int = 0) -> tuple[BufferEvent, BufferEvent]:
        """Both ends, linked (and, with ``BEV_OPT_THREADSAFE``, sharing one lock)."""
        a = cls(base, options)
        b = cls(base, options, a._lock)
        a._partner = b
        b._partner = a
        return a, b

    def get_partner(self) -> BufferEvent | None:
        """The other end, or None once it was freed (``bufferevent_pair_get_partner``)."""
        return self._partner

    # -- moving data ---------------------------------------------------------------

    def _transfer_to(self, dst: PairBufferEvent, ignore_wm: bool) -> bool:
        """Move this end's output into ``dst``'s input (libevent's be_pair_transfer).

        Only the room under ``dst``'s high watermark moves; ``ignore_wm`` (a
        flush) moves everything when ``dst`` is already full. Both ends'
        callbacks are then triggered, even if nothing moved.
        """
        out = self._output
        n = len(out)
        if not n and not ignore_wm:
            return False
        high = dst._wm_read_high
        if high:
            room = high - len(dst._input)
            if room <= 0:
                if not ignore_wm:
                    return False
            elif room < n:
                n = room
        if n == len(out):
            dst._input.add_buffer(out)
        else:
            out.remove_buffer(dst._input, n)
        dst._adj_timeouts()
        self._adj_timeouts()
        dst._run_readcb(0)
        self._run_writecb(0)
        return True

    def _wants_to_send(self) -> bool:
        dst = self._partner
        return (
            dst is not None
            and self._enabled & _WRITE != 0
            and not self._write_suspended
            and dst._enabled & _READ != 0
            and not dst._read_suspended
        )

    def _push(self) -> None:
        dst = self._partner
        if dst is not None and self._wants_to_send():
            self._transfer_to(dst, False)

    def _pull(self) -> None:
        src = self._partner
        if src is not None and src._wants_to_send():
            src._transfer_to(self, False)

    # -- hooks ---------------------------------------------------------------------

    def _start_reading(self) -> None:
        self._pull()
        self._adj_timeouts()

    def _stop_reading(self) -> None:
        self._adj_timeouts()

    def _start_writing(self) -> None:
        self._push()
        self._adj_timeouts()

    def _stop_writing(self) -> None:
        self._adj_timeouts()

    def _output_added(self) -> None:
        self._push()
        self._adj_timeouts()

    def _flush(self, iotype: int, mode: int) -> int:
        partner = self._partner
        if partner is None:
            return -1  # libevent: flushing an end whose partner is gone fails
        if mode == 0:
            return 0
        if iotype & _READ:
            partner._transfer_to(self, True)
        if iotype & _WRITE:
            self._transfer_to(partner, True)
        if mode == 2:  # BEV_FINISHED: the partner learns that no more is coming
            what = _EOF
            if iotype & _READ:
                what |= _WRITING
            if iotype & _WRITE:
                what |= _READING
            partner._run_eventcb(what, 0)
        return 0

    def _destruct(self) -> None:
        partner = self._partner
        if partner is not None:
            partner._partner = None  # freeing one end just unlinks it: no EOF
            self._partner = None
        super()._destruct()
