"""A zlib filter pair for FilterBufferEvent: the worked example of ``bufferevent_filter_new``.

libevent's regress suite ships such a pair (``test/regress_zlib.c``); levent
ships one as library code because it is what a user copies first:

* ``ZlibCompressor`` (output filter): deflates what the user writes and ends
  every batch with ``Z_SYNC_FLUSH``, so the peer can decompress each write as
  soon as it arrives; ``flush(EV_WRITE, BEV_FINISHED)`` writes ``Z_FINISH``, the
  end of the stream. It reads at most ``dst_limit`` bytes per call, which
  keeps the underlying output roughly under its high watermark (deflate output
  can exceed its input by a few bytes per block).
* ``ZlibDecompressor`` (input filter): inflates into at most ``dst_limit``
  bytes, so a tiny packet that inflates to gigabytes (a "zip bomb") never
  grows the input past its high watermark: input that did not fit stays in the
  underlying input until the reader drains. Corrupt data, or bytes after the
  end of the stream, return ``BEV_ERROR`` (→ ``READING|ERROR``).

``zlib_filter(underlying, options)`` stacks both on a bufferevent.
"""

from __future__ import annotations

import zlib
from typing import Any, Final

from ..buffer import Evbuffer
from .core import BufferEvent
from .filter import FilterBufferEvent

__all__ = ["ZlibCompressor", "ZlibDecompressor", "zlib_filter"]

_OK: Final = 0
_NEED_MORE: Final = 1
_ERROR: Final = 2
_NORMAL: Final = 0
_FINISHED: Final = 2


class ZlibCompressor:
    """Output filter: ``compress`` + ``Z_SYNC_FLUSH`` per batch, ``Z_FINISH`` on BEV_FINISHED."""

    __slots__ = ("_compressor", "_finished")

    def __init__(self, level: int = zlib.Z_DEFAULT_COMPRESSION, wbits: int = zlib.MAX_WBITS):
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, wbits)
        self._finished = False

    @property
    def finished(self) -> bool:
        """True once ``Z_FINISH`` was written: the stream is complete."""
        return self._finished

    def __call__(self, src: Evbuffer, dst: Evbuffer, dst_limit: int, mode: int, ctx: Any) -> int:
        n = len(src)
        if self._finished:
            return _ERROR if n else _NEED_MORE  # nothing may follow the end of the stream
        if not n and mode == _NORMAL:
            return _NEED_MORE
        if 0 < dst_limit < n:
            n = dst_limit
        compressor = self._compressor
        if n:
            taken = 0
            for view in src.peek(n):
                if taken + len(view) > n:
                    part = view[: n - taken]
                    dst.add(compressor.compress(part))
                    part.release()
                else:
                    dst.add(compressor.compress(view))
                taken += len(view)
                view.release()
                if taken >= n:
                    break
            src.drain(n)
        if mode == _FINISHED:
            dst.add(compressor.flush(zlib.Z_FINISH))
            self._finished = True
        else:
            dst.add(compressor.flush(zlib.Z_SYNC_FLUSH))
        return _OK


class ZlibDecompressor:
    """Input filter: ``decompress`` bounded by ``dst_limit``; ``BEV_ERROR`` on corrupt input."""

    __slots__ = ("_decompressor", "_pending")

    def __init__(self, wbits: int = zlib.MAX_WBITS) -> None:
        self._decompressor = zlib.decompressobj(wbits)
        #: The last call filled its limit exactly: zlib may hold output without input.
        self._pending = False

    @property
    def eof(self) -> bool:
        """True once the end of the compressed stream was seen."""
        return self._decompressor.eof

    def __call__(self, src: Evbuffer, dst: Evbuffer, dst_limit: int, mode: int, ctx: Any) -> int:
        d = self._decompressor
        if mode == _FINISHED:
            dst_limit = -1  # finishing: everything must come out
        room = dst_limit
        produced = False
        try:
            if self._pending and room != 0:
                out = d.decompress(b"", room if room > 0 else 0)
                self._pending = room > 0 and len(out) == room
                if out:
                    produced = True
                    dst.add(out)
                    if room > 0:
                        room -= len(out)
            while len(src) and room != 0 and not d.eof:
                view = src.peek(1)[0]
                size = len(view)
                out = d.decompress(view, room if room > 0 else 0)
                view.release()
                src.drain(size - len(d.unconsumed_tail) - len(d.unused_data))
                if out:
                    produced = True
                    dst.add(out)
                    if room > 0:
                        room -= len(out)
                        self._pending = room == 0
                if d.unconsumed_tail:
                    break  # the limit cut this chunk short
            if mode == _FINISHED and not d.eof:
                out = d.flush()
                if out:
                    produced = True
                    dst.add(out)
        except zlib.error:
            return _ERROR
        if d.eof and len(src):
            return _ERROR  # bytes after the end of the stream
        return _OK if produced else _NEED_MORE


def zlib_filter(
    underlying: BufferEvent,
    options: int = 0,
    level: int = zlib.Z_DEFAULT_COMPRESSION,
    wbits: int = zlib.MAX_WBITS,
) -> FilterBufferEvent:
    """A FilterBufferEvent that compresses what is written and decompresses what is read."""
    return FilterBufferEvent(
        underlying, ZlibDecompressor(wbits), ZlibCompressor(level, wbits), options
    )
