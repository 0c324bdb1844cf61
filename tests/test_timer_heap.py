"""The timer heap against a plain sorted-list model (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from levent import Event, EventBase
from levent.timers import TimerHeap

# Operations: ("push", event index, deadline), ("discard", event index), ("pop", now).
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(0, 15), st.sampled_from([0.0, 1.0, 1.5, 2.0, 7.0])),
        st.tuples(st.just("discard"), st.integers(0, 15), st.just(0.0)),
        st.tuples(st.just("pop"), st.just(0), st.sampled_from([0.5, 1.0, 2.0, 10.0])),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(_ops)
def test_given_random_pushes_and_discards_timers_pop_in_deadline_then_fifo_order(
    ops: list[tuple[str, int, float]],
) -> None:
    """Each pending timer pops exactly once, earliest deadline first, FIFO on ties."""
    with EventBase() as base:
        events = [Event.timer(base, lambda *a: None) for _ in range(16)]
        heap = TimerHeap()
        model: list[tuple[float, int, int]] = []  # (deadline, sequence, event index)
        seq = 0
        for op, index, value in ops:
            ev = events[index]
            if op == "push":
                if any(i == index for _, _, i in model):
                    heap.discard(ev)
                    model = [m for m in model if m[2] != index]
                ev._deadline = value
                heap.push(ev, value)
                model.append((value, seq, index))
                seq += 1
            elif op == "discard":
                if any(i == index for _, _, i in model):
                    heap.discard(ev)
                    model = [m for m in model if m[2] != index]
            else:
                model.sort()
                expected = [m[2] for m in model if m[0] <= value]
                popped = []
                while (got := heap.pop_expired(value)) is not None:
                    popped.append(events.index(got))
                assert popped == expected
                model = [m for m in model if m[0] > value]
            assert len(heap) == len(model)
            assert heap.next_deadline() == (min(model)[0] if model else None)
