"""The host's bounded mailbox: conflation, drops of raw market data, backpressure for the rest."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.ray_runtime.mailbox import Mailbox


async def drain(box: Mailbox) -> list[object]:
    out = []
    while len(box):
        out.append(await box.get())
    return out


async def test_top_of_book_conflates_to_latest_per_token_in_the_oldest_position() -> None:
    box = Mailbox(10)
    box.offer("top_of_book", "A", "a1")
    box.offer("fill", None, "f1")
    box.offer("top_of_book", "A", "a2")
    box.offer("top_of_book", "B", "b1")
    assert await drain(box) == ["a2", "f1", "b1"]
    assert box.conflated == 1


async def test_full_box_drops_raw_market_data_but_refuses_critical_messages() -> None:
    box = Mailbox(2)
    assert box.offer("fill", None, "f1") and box.offer("fill", None, "f2")
    assert box.offer("book_delta", "A", "d1")  # accepted and dropped
    assert box.dropped == 1
    assert not box.offer("risk_decision", None, "r1")  # the caller must wait
    assert await drain(box) == ["f1", "f2"]


async def test_put_of_critical_message_waits_for_room_instead_of_dropping() -> None:
    box = Mailbox(1)
    await box.put("fill", None, "f1")
    waiter = asyncio.ensure_future(box.put("fill", None, "f2"))
    await asyncio.sleep(0)
    assert not waiter.done()
    assert await box.get() == "f1"
    await asyncio.wait_for(waiter, 5)
    assert await box.get() == "f2"


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Mailbox(0)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["fill", "top_of_book", "order_event"]), st.sampled_from(["A", "B"])), max_size=60
    )
)
def test_critical_messages_keep_order_and_none_is_lost(items: list[tuple[str, str]]) -> None:
    async def go() -> None:
        box = Mailbox(1000)
        for i, (kind, key) in enumerate(items):
            assert box.offer(kind, key, (kind, key, i))
        got = await drain(box)
        critical = [x for x in got if x[0] != "top_of_book"]  # type: ignore[index]
        assert critical == [(k, key, i) for i, (k, key) in enumerate(items) if k != "top_of_book"]
        # the latest top of book per key always survives
        for key in ("A", "B"):
            tops = [i for i, (k, kk) in enumerate(items) if k == "top_of_book" and kk == key]
            if tops:
                assert ("top_of_book", key, tops[-1]) in got

    asyncio.run(go())


async def test_timer_put_critical_into_a_full_box_is_enqueued_past_capacity_and_counted() -> None:
    box = Mailbox(2)
    box.offer("order_intent", None, "i1")
    box.offer("order_intent", None, "i2")
    assert box.offer("_timer", "retry", "t-refused") is False  # a plain offer would have lost it
    box.put_critical("_timer", "retry", "t1")
    box.put_critical("_timer", "retry", "t2")
    assert box.over_capacity == 2
    assert await drain(box) == ["i1", "i2", "t1", "t2"]
    with pytest.raises(ValueError, match="not a critical kind"):
        box.put_critical("book_delta", None, "x")
