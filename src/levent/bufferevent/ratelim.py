"""Rate limiting of bufferevents (libevent's ``bufferevent_ratelim.c``): token buckets.

A ``RateLimitConfig`` (``ev_token_bucket_cfg``) says how many bytes each
direction gains per tick (``rate``) and how many it may save up (``burst``).
A bufferevent gets its own bucket with ``set_rate_limit(bev, cfg)``, and may
also share one bucket with others through a ``RateLimitGroup``. When both
apply, the smaller allowance wins.

Theory of operation, as in libevent:

* Time is cut into ticks: tick number = cached monotonic milliseconds //
  milliseconds per tick. A bucket refills lazily, on its first use in a new
  tick, by ``rate`` per elapsed tick, capped at ``burst``. A new bucket holds
  ``rate`` (not ``burst``).
* Each read or write is sized to what the bucket holds: with a per-bev
  config the bucket *replaces* the max-single-read/write cap; in a group each
  member may take ``max(group bucket // members, min_share)``.
* Buckets may go negative (a read can take more than was allowed, or the user
  decrements by hand). When a per-bev bucket reaches <= 0 that direction is
  suspended (``SUSPEND_BW``) and a one-tick refill timer is armed; the timer
  resumes the direction once the bucket is positive again, re-arming itself
  while it is not. When a group bucket reaches <= 0 every member is suspended
  (``SUSPEND_BW_GROUP``) until the group's persistent per-tick timer finds at
  least ``min_share`` tokens.

The I/O paths of a BufferEvent see all this through one object in its
``_rate`` slot (``core.RateLimiter``): a ``BevRateLimit`` created here on
first use. ``BufferEvent`` methods (``set_rate_limit``, ``get_read_limit`` …)
are one-line delegations to the module functions below.

Where levent differs from libevent, deliberately:

* libevent's refill arithmetic is unsigned, so a bucket pushed above ``burst``
  by a manual refill (negative decrement) keeps growing by ``rate`` every
  tick; levent never refills above ``burst`` (it leaves such a bucket as it is).
* Changing the tick length of a bucket in use (``set_rate_limit`` with a new
  config, ``RateLimitGroup.set_cfg``) re-bases the bucket's tick number in the
  new unit; libevent keeps the old number and so refills a burst at once, or
  never again, depending on which way the tick changed.
* With ``set_min_share(0)`` and fewer tokens than members, libevent hands a
  share of 0 without suspending anyone; levent hands out 1 byte, so I/O always
  either progresses or is suspended (never spins on a ready fd).
* Groups are not locked: a group and its members belong to one EventBase and
  are used from its loop thread.
"""

from __future__ import annotations

import math
import random
from typing import Final

from ..base import EventBase
from ..constants import EV
from ..errors import BaseMismatchError, EventStateError
from ..event import Event
from .core import SUSPEND_BW, SUSPEND_BW_GROUP, BufferEvent

__all__ = [
    "EV_RATE_LIMIT_MAX",
    "EV_SSIZE_MAX",
    "BevRateLimit",
    "RateLimitConfig",
    "RateLimitGroup",
    "TokenBucket",
    "add_to_rate_limit_group",
    "decrement_read_limit",
    "decrement_write_limit",
    "get_read_limit",
    "get_token_bucket_cfg",
    "get_write_limit",
    "remove_from_rate_limit_group",
    "set_rate_limit",
]

#: Largest rate or burst (``EV_RATE_LIMIT_MAX``, = ``EV_SSIZE_MAX`` on 64-bit).
EV_RATE_LIMIT_MAX: Final = 2**63 - 1
#: What ``get_read_limit`` / ``get_write_limit`` return without a per-bev config.
EV_SSIZE_MAX: Final = 2**63 - 1
#: The longest tick: INT_MAX milliseconds, in whole seconds (libevent: INT_MAX/1000).
_MAX_TICK_SECONDS: Final = (2**31 - 1) // 1000
_DEFAULT_MIN_SHARE: Final = 64

# Direction indexes into the two-element lists below.
_R: Final = 0
_W: Final = 1
_EV_PERSIST: Final = int(EV.PERSIST)


def _check_size(name: str, value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return int(value)


def _tick_msec(tick_len: object) -> int:
    """Milliseconds per tick of ``tick_len`` seconds, validated (behaviour 91)."""
    if tick_len is None:
        return 1000
    if not isinstance(tick_len, (int, float)):
        raise TypeError(f"tick_len must be seconds as a number or None, not {tick_len!r}")
    if isinstance(tick_len, float) and not math.isfinite(tick_len):
        raise ValueError(f"tick_len must be finite, not {tick_len!r}")
    # As a struct timeval: whole seconds plus microseconds; the sub-millisecond
    # part is then ignored. Rounding to microseconds first keeps 0.3 at 300 ms.
    usec = tick_len * 1_000_000 if isinstance(tick_len, int) else round(tick_len * 1_000_000)
    seconds, micros = divmod(int(usec), 1_000_000)
    if seconds < 0:
        raise ValueError(f"tick_len must not be negative, not {tick_len!r}")
    if seconds > _MAX_TICK_SECONDS:
        raise ValueError(f"tick_len {tick_len!r} s is above the maximum of {_MAX_TICK_SECONDS} s")
    msec = seconds * 1000 + micros // 1000
    if msec == 0:
        raise ValueError(f"tick_len {tick_len!r} s is less than one millisecond")
    return msec


class RateLimitConfig:
    """Rates and bursts of a token bucket (``ev_token_bucket_cfg_new``).

    ``read_rate`` / ``write_rate`` bytes are added per tick, up to
    ``read_burst`` / ``write_burst``; ``tick_len`` is in seconds (None: 1 s,
    whole milliseconds count). Invalid values raise ``ValueError`` saying why.
    A config is immutable and may be shared by any number of bufferevents.
    """

    __slots__ = ("_burst", "_msec_per_tick", "_rate", "_tick_len")

    def __init__(
        self,
        read_rate: int,
        read_burst: int,
        write_rate: int,
        write_burst: int,
        tick_len: float | None = None,
    ) -> None:
        values = (
            ("read_rate", read_rate),
            ("read_burst", read_burst),
            ("write_rate", write_rate),
            ("write_burst", write_burst),
        )
        for name, value in values:
            if _check_size(name, value) > EV_RATE_LIMIT_MAX:
                raise ValueError(f"{name} {value} is above EV_RATE_LIMIT_MAX (2**63-1)")
        for direction, rate, burst in (
            ("read", read_rate, read_burst),
            ("write", write_rate, write_burst),
        ):
            if rate < 1:
                raise ValueError(f"{direction}_rate must be at least 1, not {rate}")
            if rate > burst:
                raise ValueError(f"{direction}_rate {rate} is above {direction}_burst {burst}")
        self._msec_per_tick = _tick_msec(tick_len)
        self._tick_len = 1.0 if tick_len is None else float(tick_len)
        self._rate = [int(read_rate), int(write_rate)]
        self._burst = [int(read_burst), int(write_burst)]

    @property
    def read_rate(self) -> int:
        """Bytes added to the read bucket per tick."""
        return self._rate[_R]

    @property
    def read_burst(self) -> int:
        """Most bytes the read bucket can hold."""
        return self._burst[_R]

    @property
    def write_rate(self) -> int:
        """Bytes added to the write bucket per tick."""
        return self._rate[_W]

    @property
    def write_burst(self) -> int:
        """Most bytes the write bucket can hold."""
        return self._burst[_W]

    @property
    def tick_len(self) -> float:
        """The tick in seconds, as given; the refill timers use it."""
        return self._tick_len

    @property
    def msec_per_tick(self) -> int:
        """Whole milliseconds per tick; tick numbers count these."""
        return self._msec_per_tick

    def tick_of(self, now: float) -> int:
        """The tick number of monotonic time ``now`` (``ev_token_bucket_get_tick_``)."""
        return (round(now * 1_000_000) // 1000) // self._msec_per_tick

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RateLimitConfig):
            return NotImplemented
        return (
            self._rate == other._rate
            and self._burst == other._burst
            and self._tick_len == other._tick_len
        )

    def __hash__(self) -> int:
        return hash((tuple(self._rate), tuple(self._burst), self._tick_len))

    def __repr__(self) -> str:
        return (
            f"RateLimitConfig(read_rate={self.read_rate}, read_burst={self.read_burst}, "
            f"write_rate={self.write_rate}, write_burst={self.write_burst}, "
            f"tick_len={self._tick_len!r})"
        )


class TokenBucket:
    """The read and write token counts of one bucket (``struct ev_token_bucket``).

    Pure arithmetic on tick numbers, no clock: ``update(cfg, tick)`` is the
    lazy refill. ``limits[0]`` is read, ``limits[1]`` write; both may be negative.
    """

    __slots__ = ("last_updated", "limits")

    def __init__(self, cfg: RateLimitConfig, tick: int) -> None:
        #: [read, write] tokens; a new bucket starts at the rate, not the burst.
        self.limits = [cfg._rate[_R], cfg._rate[_W]]
        #: The tick of the last refill.
        self.last_updated = tick

    @property
    def read_limit(self) -> int:
        """Read tokens left (may be negative)."""
        return self.limits[_R]

    @property
    def write_limit(self) -> int:
        """Write tokens left (may be negative)."""
        return self.limits[_W]

    def update(self, cfg: RateLimitConfig, tick: int) -> bool:
        """Add ``rate`` per tick elapsed since the last update, capped at ``burst``.

        False (and nothing changes) when no tick has elapsed or time went back.
        """
        n_ticks = tick - self.last_updated
        if n_ticks <= 0:
            return False
        limits = self.limits
        for d in (_R, _W):
            limit = limits[d]
            burst = cfg._burst[d]
            if limit < burst:
                limits[d] = min(burst, limit + n_ticks * cfg._rate[d])
        self.last_updated = tick
        return True

    def clip(self, cfg: RateLimitConfig) -> None:
        """Adopt a new config mid-tick: lower to its burst, never raise (tokens were used)."""
        limits = self.limits
        for d in (_R, _W):
            if limits[d] > cfg._burst[d]:
                limits[d] = cfg._burst[d]

    def __repr__(self) -> str:
        limits = self.limits
        return f"<TokenBucket read={limits[_R]} write={limits[_W]} tick={self.last_updated}>"


# -- one bufferevent's state --------------------------------------------------------


def _suspend(bev: BufferEvent, d: int, why: int) -> None:
    if d == _R:
        bev.suspend_read(why)
    else:
        bev.suspend_write(why)


def _unsuspend(bev: BufferEvent, d: int, why: int) -> None:
    if d == _R:
        bev.unsuspend_read(why)
    else:
        bev.unsuspend_write(why)


def _suspended(bev: BufferEvent, d: int) -> int:
    return bev._read_suspended if d == _R else bev._write_suspended


class BevRateLimit:
    """A bufferevent's rate limits (``struct bufferevent_rate_limit``), in ``bev._rate``.

    Holds the per-bev config and bucket (or None), the one-tick refill timer and
    the group membership; implements ``core.RateLimiter`` for the I/O paths.
    """

    __slots__ = ("_bev", "_bucket", "_cfg", "_group", "_refill")

    def __init__(self, bev: BufferEvent) -> None:
        self._bev = bev
        self._cfg: RateLimitConfig | None = None
        self._bucket: TokenBucket | None = None
        self._group: RateLimitGroup | None = None
        self._refill: Event | None = None

    @property
    def cfg(self) -> RateLimitConfig | None:
        """The per-bev config, or None."""
        return self._cfg

    @property
    def bucket(self) -> TokenBucket | None:
        """The per-bev bucket (None without a per-bev config)."""
        return self._bucket if self._cfg is not None else None

    @property
    def group(self) -> RateLimitGroup | None:
        """The group this bufferevent belongs to, or None."""
        return self._group

    # -- core.RateLimiter ------------------------------------------------------------

    def max_to_read(self, bev: BufferEvent) -> int:
        """What the next read may take (``bufferevent_get_read_max_``); 0: suspended."""
        return self._max(_R, bev._max_single_read)

    def max_to_write(self, bev: BufferEvent) -> int:
        """What the next write may send (``bufferevent_get_write_max_``); 0: suspended."""
        return self._max(_W, bev._max_single_write)

    def consumed_read(self, bev: BufferEvent, n: int) -> None:
        """``n`` bytes were read (``bufferevent_decrement_read_buckets_``)."""
        self._consumed(_R, n)

    def consumed_written(self, bev: BufferEvent, n: int) -> None:
        """``n`` bytes were written (``bufferevent_decrement_write_buckets_``)."""
        self._consumed(_W, n)

    def release(self, bev: BufferEvent) -> None:
        """The bufferevent is being destroyed: leave the group, drop the timer."""
        group = self._group
        if group is not None:
            group._detach(self)
            self._group = None
        refill = self._refill
        if refill is not None:
            refill.free()
            self._refill = None
        self._cfg = None
        if self._bev._rate is self:
            self._bev._rate = None

    # -- the arithmetic ----------------------------------------------------------------

    def _max(self, d: int, single: int) -> int:
        most = single
        cfg = self._cfg
        if cfg is not None:
            bucket = self._bucket
            assert bucket is not None
            tick = cfg.tick_of(self._bev._base._now())
            if tick != bucket.last_updated:
                bucket.update(cfg, tick)
            most = bucket.limits[d]  # the bucket replaces the single-op cap
            if most <= 0 and not _suspended(self._bev, d) & SUSPEND_BW:
                self._exhausted(d, cfg)  # keep the promise: <= 0 means suspended
        group = self._group
        if group is not None:
            share = group._share(d, self._bev)
            if share < most:
                most = share
        return most if most > 0 else 0

    def _exhausted(self, d: int, cfg: RateLimitConfig) -> None:
        _suspend(self._bev, d, SUSPEND_BW)
        self._refill_event().add(cfg._tick_len)

    def _consumed(self, d: int, n: int) -> None:
        cfg = self._cfg
        if cfg is not None:
            bucket = self._bucket
            assert bucket is not None
            bucket.limits[d] -= n
            if bucket.limits[d] <= 0:
                self._exhausted(d, cfg)
            elif _suspended(self._bev, d) & SUSPEND_BW:
                self._refilled(d)
        group = self._group
        if group is not None:
            group._consumed(d, n)

    def _refilled(self, d: int) -> None:
        """The bucket of ``d`` is positive again: resume it, and stop the timer if idle."""
        other = _W if d == _R else _R
        refill = self._refill
        if refill is not None and not _suspended(self._bev, other) & SUSPEND_BW:
            refill.delete()
        _unsuspend(self._bev, d, SUSPEND_BW)

    def _refill_event(self) -> Event:
        refill = self._refill
        if refill is None:
            refill = self._refill = Event.timer(self._bev._base, self._on_refill)
        return refill

    def _on_refill(self, fd: int, what: int, arg: object) -> None:
        # libevent's bev_refill_callback_: one tick after a bucket emptied.
        bev = self._bev
        cfg = self._cfg
        bucket = self._bucket
        if bev._freed:
            self.release(bev)
            return
        if cfg is None or bucket is None:
            return
        bucket.update(cfg, cfg.tick_of(bev._base._now()))
        again = False
        for d in (_R, _W):
            if _suspended(bev, d) & SUSPEND_BW:
                if bucket.limits[d] > 0:
                    _unsuspend(bev, d, SUSPEND_BW)
                else:
                    again = True  # it started far enough below zero to need more ticks
        if again:
            self._refill_event().add(cfg._tick_len)

    # -- bufferevent_set_rate_limit and friends ------------------------------------------

    def _set_cfg(self, cfg: RateLimitConfig | None) -> None:
        bev = self._bev
        old = self._cfg
        if cfg is None:
            if old is not None:
                self._cfg = None
                self._bucket = None
                bev.unsuspend_read(SUSPEND_BW)
                bev.unsuspend_write(SUSPEND_BW)
                if self._refill is not None:
                    self._refill.delete()
            return
        if old is cfg:
            return
        tick = cfg.tick_of(bev._base._now())
        bucket = self._bucket
        if old is None or bucket is None:
            self._bucket = bucket = TokenBucket(cfg, tick)
        else:
            bucket.clip(cfg)
            if cfg._msec_per_tick != old._msec_per_tick:
                bucket.last_updated = tick
        self._cfg = cfg
        refill = self._refill_event()
        refill.delete()
        suspended = False
        for d in (_R, _W):
            if bucket.limits[d] > 0:
                _unsuspend(bev, d, SUSPEND_BW)
            else:
                _suspend(bev, d, SUSPEND_BW)
                suspended = True
        if suspended:
            refill.add(cfg._tick_len)

    def _limit(self, d: int) -> int:
        cfg = self._cfg
        bucket = self._bucket
        if cfg is None or bucket is None:
            return EV_SSIZE_MAX
        tick = cfg.tick_of(self._bev._base._now())
        if tick != bucket.last_updated:
            bucket.update(cfg, tick)
        return bucket.limits[d]

    def _decrement(self, d: int, n: int) -> None:
        cfg = self._cfg
        bucket = self._bucket
        if cfg is None or bucket is None:
            raise EventStateError("the bufferevent has no rate limit (set_rate_limit first)")
        old = bucket.limits[d]
        new = bucket.limits[d] = old - n
        if old > 0 and new <= 0:
            self._exhausted(d, cfg)
        elif old <= 0 and new > 0:
            self._refilled(d)

    def _idle(self) -> bool:
        return self._cfg is None and self._group is None

    def __repr__(self) -> str:
        return f"<BevRateLimit cfg={self._cfg!r} bucket={self._bucket!r} group={self._group!r}>"


def _limiter(bev: BufferEvent) -> BevRateLimit | None:
    rate = bev._rate
    return rate if isinstance(rate, BevRateLimit) else None


def _install(bev: BufferEvent) -> BevRateLimit:
    rate = _limiter(bev)
    if rate is None:
        rate = BevRateLimit(bev)
        bev._rate = rate
    return rate


def _uninstall_if_idle(rate: BevRateLimit) -> None:
    # Nothing limits this bufferevent any more: take the limiter off its hot path.
    if rate._idle():
        rate.release(rate._bev)


def _check_bev(bev: object) -> BufferEvent:
    if not isinstance(bev, BufferEvent):
        raise TypeError(f"expected a BufferEvent, not {type(bev).__name__}")
    bev._check_usable()
    return bev


def _check_decrement(n: object) -> int:
    value = _check_size("n", n)
    if not -EV_SSIZE_MAX - 1 <= value <= EV_SSIZE_MAX:
        raise ValueError(f"decrement {value} does not fit in an ev_ssize_t")
    return value


# -- what the BufferEvent methods delegate to -------------------------------------------


def set_rate_limit(bev: BufferEvent, cfg: RateLimitConfig | None) -> None:
    """``bufferevent_set_rate_limit``: a per-bev bucket from ``cfg``; None removes it.

    Setting the config already in use changes nothing; a different config keeps
    the tokens (lowered to its burst).
    """
    _check_bev(bev)
    if cfg is not None and not isinstance(cfg, RateLimitConfig):
        raise TypeError(f"cfg must be a RateLimitConfig or None, not {type(cfg).__name__}")
    if cfg is None:
        rate = _limiter(bev)
        if rate is not None:
            rate._set_cfg(None)
            _uninstall_if_idle(rate)
        return
    _install(bev)._set_cfg(cfg)


def get_token_bucket_cfg(bev: BufferEvent) -> RateLimitConfig | None:
    """``bufferevent_get_token_bucket_cfg``: the per-bev config in use, or None."""
    rate = _limiter(bev)
    return None if rate is None else rate._cfg


def get_read_limit(bev: BufferEvent) -> int:
    """``bufferevent_get_read_limit``: per-bev read tokens (may be negative), or EV_SSIZE_MAX."""
    rate = _limiter(bev)
    return EV_SSIZE_MAX if rate is None else rate._limit(_R)


def get_write_limit(bev: BufferEvent) -> int:
    """``bufferevent_get_write_limit``: per-bev write tokens (may be negative), or EV_SSIZE_MAX."""
    rate = _limiter(bev)
    return EV_SSIZE_MAX if rate is None else rate._limit(_W)


def decrement_read_limit(bev: BufferEvent, n: int) -> None:
    """``bufferevent_decrement_read_limit``: take ``n`` read tokens (negative gives them).

    Crossing zero downwards suspends reading until a refill; upwards resumes it.
    """
    n = _check_decrement(n)
    rate = _limiter(_check_bev(bev))
    if rate is None:
        raise EventStateError("the bufferevent has no rate limit (set_rate_limit first)")
    rate._decrement(_R, n)


def decrement_write_limit(bev: BufferEvent, n: int) -> None:
    """``bufferevent_decrement_write_limit``: as ``decrement_read_limit``, for writing."""
    n = _check_decrement(n)
    rate = _limiter(_check_bev(bev))
    if rate is None:
        raise EventStateError("the bufferevent has no rate limit (set_rate_limit first)")
    rate._decrement(_W, n)


def add_to_rate_limit_group(bev: BufferEvent, group: RateLimitGroup | None) -> None:
    """``bufferevent_add_to_rate_limit_group``: join ``group`` (None: leave any group).

    A bufferevent is in at most one group; joining another leaves the old one.
    """
    if group is None:
        remove_from_rate_limit_group(bev)
        return
    if not isinstance(group, RateLimitGroup):
        raise TypeError(f"group must be a RateLimitGroup or None, not {type(group).__name__}")
    _check_bev(bev)
    group._check_usable()
    if bev._base is not group._base:
        raise BaseMismatchError("the bufferevent and the group belong to different EventBases")
    rate = _install(bev)
    old = rate._group
    if old is group:
        return
    if old is not None:
        old._detach(rate)
        rate._group = None
        bev.unsuspend_read(SUSPEND_BW_GROUP)
        bev.unsuspend_write(SUSPEND_BW_GROUP)
    group._attach(rate)
    rate._group = group
    if group._suspended[_R]:
        bev.suspend_read(SUSPEND_BW_GROUP)
    if group._suspended[_W]:
        bev.suspend_write(SUSPEND_BW_GROUP)


def remove_from_rate_limit_group(bev: BufferEvent) -> None:
    """``bufferevent_remove_from_rate_limit_group``: leave the group, if any; I/O resumes."""
    _check_bev(bev)
    rate = _limiter(bev)
    if rate is None:
        return
    group = rate._group
    if group is not None:
        group._detach(rate)
        rate._group = None
    bev.unsuspend_read(SUSPEND_BW_GROUP)
    bev.unsuspend_write(SUSPEND_BW_GROUP)
    _uninstall_if_idle(rate)


# -- groups ---------------------------------------------------------------------------


class RateLimitGroup:
    """One token bucket shared by many bufferevents (``bufferevent_rate_limit_group``).

    ``RateLimitGroup(base, cfg)`` is ``bufferevent_rate_limit_group_new``. Its
    per-tick timer is persistent, so a base with a live group keeps looping:
    ``free()`` the group (empty) when done. The config is copied in.
    """

    __slots__ = (
        "_base",
        "_bucket",
        "_cfg",
        "_configured_min_share",
        "_freed",
        "_members",
        "_min_share",
        "_refill",
        "_rng",
        "_suspended",
        "_totals",
    )

    def __init__(self, base: EventBase, cfg: RateLimitConfig) -> None:
        if not isinstance(base, EventBase):
            raise TypeError(f"base must be an EventBase, not {type(base).__name__}")
        if not isinstance(cfg, RateLimitConfig):
            raise TypeError(f"cfg must be a RateLimitConfig, not {type(cfg).__name__}")
        base._check_usable()
        self._base = base
        self._cfg = cfg
        self._bucket = TokenBucket(cfg, cfg.tick_of(base._now()))
        self._members: list[BevRateLimit] = []
        self._suspended = [False, False]
        self._totals = [0, 0]
        self._configured_min_share = _DEFAULT_MIN_SHARE
        self._min_share = _DEFAULT_MIN_SHARE
        self._freed = False
        # Resuming members from a random starting point is libevent's nod to fairness.
        self._rng = random.Random()
        self._refill = Event(base, -1, _EV_PERSIST, self._on_tick)
        self._refill.add(cfg._tick_len)
        self._apply_min_share()

    # -- configuration ---------------------------------------------------------------------

    @property
    def cfg(self) -> RateLimitConfig:
        """The config in use."""
        return self._cfg

    @property
    def base(self) -> EventBase:
        """The EventBase whose loop refills the group."""
        return self._base

    @property
    def min_share(self) -> int:
        """The effective minimum share (the configured one, clamped to the rates)."""
        return self._min_share

    @property
    def n_members(self) -> int:
        """How many bufferevents are in the group."""
        self._prune()
        return len(self._members)

    def set_cfg(self, cfg: RateLimitConfig) -> None:
        """``bufferevent_rate_limit_group_set_cfg``: new rates; tokens are lowered to the burst."""
        if not isinstance(cfg, RateLimitConfig):
            raise TypeError(f"cfg must be a RateLimitConfig, not {type(cfg).__name__}")
        self._check_usable()
        old = self._cfg
        self._cfg = cfg
        self._bucket.clip(cfg)
        if cfg._msec_per_tick != old._msec_per_tick:
            self._bucket.last_updated = cfg.tick_of(self._base._now())
        if cfg._tick_len != old._tick_len:
            self._refill.add(cfg._tick_len)  # may hiccup the schedule once, as in libevent
        self._apply_min_share()

    def set_min_share(self, share: int) -> None:
        """``bufferevent_rate_limit_group_set_min_share``: the least a member may take per op.

        Clamped to the read and write rates, so that at steady state at least one
        member moves per tick. The default is 64.
        """
        share = _check_size("share", share)
        if share < 0:
            raise ValueError(f"min share must not be negative, not {share}")
        if share > EV_SSIZE_MAX:
            raise ValueError(f"min share {share} is above EV_SSIZE_MAX")
        self._configured_min_share = share
        self._apply_min_share()

    def _apply_min_share(self) -> None:
        cfg = self._cfg
        self._min_share = min(self._configured_min_share, cfg._rate[_R], cfg._rate[_W])

    # -- the bucket ------------------------------------------------------------------------

    def get_read_limit(self) -> int:
        """``bufferevent_rate_limit_group_get_read_limit``: read tokens (may be negative)."""
        return self._bucket.limits[_R]

    def get_write_limit(self) -> int:
        """``bufferevent_rate_limit_group_get_write_limit``: write tokens (may be negative)."""
        return self._bucket.limits[_W]

    def decrement_read(self, n: int) -> None:
        """``bufferevent_rate_limit_group_decrement_read``: take ``n`` tokens (negative gives)."""
        self._decrement(_R, _check_decrement(n))

    def decrement_write(self, n: int) -> None:
        """``bufferevent_rate_limit_group_decrement_write``."""
        self._decrement(_W, _check_decrement(n))

    def _decrement(self, d: int, n: int) -> None:
        self._check_usable()
        limits = self._bucket.limits
        old = limits[d]
        new = limits[d] = old - n
        if old > 0 and new <= 0:
            self._suspend(d)
        elif old <= 0 and new > 0:
            self._unsuspend(d)

    def get_totals(self) -> tuple[int, int]:
        """``bufferevent_rate_limit_group_get_totals``: (bytes read, bytes written)."""
        return self._totals[_R], self._totals[_W]

    def reset_totals(self) -> None:
        """``bufferevent_rate_limit_group_reset_totals``."""
        self._totals[_R] = self._totals[_W] = 0

    # -- membership ----------------------------------------------------------------------

    def add(self, bev: BufferEvent) -> None:
        """Put ``bev`` in this group and out of any other (``..._add_to_rate_limit_group``)."""
        add_to_rate_limit_group(bev, self)

    def remove(self, bev: BufferEvent) -> None:
        """Take ``bev`` out of this group (``bufferevent_remove_from_rate_limit_group``)."""
        rate = _limiter(_check_bev(bev))
        if rate is None or rate._group is not self:
            raise ValueError("the bufferevent is not in this group")
        remove_from_rate_limit_group(bev)

    def _attach(self, rate: BevRateLimit) -> None:
        self._members.insert(0, rate)  # libevent inserts at the head

    def _detach(self, rate: BevRateLimit) -> None:
        members = self._members
        for i, member in enumerate(members):
            if member is rate:
                del members[i]
                return

    def _prune(self) -> list[BevRateLimit]:
        """The members, without bufferevents freed while still in the group."""
        members = self._members
        for member in members:
            if member._bev._freed:
                self._members = members = [m for m in members if not m._bev._freed]
                break
        return members

    # -- sharing, suspending, refilling ---------------------------------------------------

    def _share(self, d: int, bev: BufferEvent) -> int:
        if self._suspended[d]:
            # A member that missed the group's suspension (it joined mid-way) catches up.
            _suspend(bev, d, SUSPEND_BW_GROUP)
            return 0
        limit = self._bucket.limits[d]
        share = limit // (len(self._members) or 1)
        if share < self._min_share:
            share = self._min_share
        if share <= 0 < limit:
            share = 1  # min share 0 and fewer tokens than members: move, don't spin
        return share

    def _consumed(self, d: int, n: int) -> None:
        limits = self._bucket.limits
        limits[d] -= n
        self._totals[d] += n
        if limits[d] <= 0:
            if not self._suspended[d]:
                self._suspend(d)
        elif self._suspended[d]:
            self._unsuspend(d)

    def _suspend(self, d: int) -> None:
        self._suspended[d] = True
        for member in self._prune():
            _suspend(member._bev, d, SUSPEND_BW_GROUP)

    def _unsuspend(self, d: int) -> None:
        self._suspended[d] = False
        members = list(self._prune())  # resuming may free a member or change the group
        n = len(members)
        if not n:
            return
        first = self._rng.randrange(n)
        for i in range(n):
            member = members[(first + i) % n]
            if member._group is self:
                _unsuspend(member._bev, d, SUSPEND_BW_GROUP)

    def _on_tick(self, fd: int, what: int, arg: object) -> None:
        # libevent's bev_group_refill_callback_: every tick, refill and maybe resume.
        cfg = self._cfg
        bucket = self._bucket
        bucket.update(cfg, cfg.tick_of(self._base._now()))
        for d in (_R, _W):
            if self._suspended[d] and bucket.limits[d] >= self._min_share:
                self._unsuspend(d)

    # -- lifetime ----------------------------------------------------------------------------

    def free(self) -> None:
        """``bufferevent_rate_limit_group_free``: only an empty group may be freed."""
        if self._freed:
            return
        members = self._prune()
        if members:
            raise EventStateError(
                f"the rate-limit group still has {len(members)} member(s); remove them first"
            )
        self._freed = True
        self._refill.free()

    @property
    def freed(self) -> bool:
        """True once ``free()`` ran."""
        return self._freed

    def _check_usable(self) -> None:
        if self._freed:
            raise EventStateError("the rate-limit group has been freed")

    def __enter__(self) -> RateLimitGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def __repr__(self) -> str:
        if self._freed:
            return "<RateLimitGroup freed>"
        return (
            f"<RateLimitGroup members={len(self._members)} read={self._bucket.limits[_R]} "
            f"write={self._bucket.limits[_W]} suspended={self._suspended} cfg={self._cfg!r}>"
        )
