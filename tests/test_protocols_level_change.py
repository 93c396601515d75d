"""``LevelChange.trusted`` (no validation, for decoders that checked at the wire) is the same model."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from protocols import BookDelta, LevelChange, Side

prices = st.decimals(min_value=0, max_value=1, places=4, allow_nan=False, allow_infinity=False)
sizes = st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False, allow_infinity=False)


@given(side=st.sampled_from(Side), price=prices, size=sizes)
def test_trusted_level_change_equals_serialises_and_behaves_as_the_validated_one(
    side: Side, price: Decimal, size: Decimal
) -> None:
    fast = LevelChange.trusted(side, price, size)
    slow = LevelChange(side=side, price=price, size=size)
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_fields_set == slow.model_fields_set
    assert pickle.loads(pickle.dumps(fast)) == slow
    assert LevelChange.model_validate_json(fast.model_dump_json()) == slow
    assert fast.model_copy(update={"size": Decimal(1)}) == slow.model_copy(update={"size": Decimal(1)})
    delta = BookDelta(time_ns=1_790_000_000_000_000_000, token_id="t", market="m", changes=(fast,))
    assert delta.changes[0] is fast  # taken as the model it is, not rebuilt


def test_trusted_level_change_is_frozen_like_every_payload() -> None:
    with pytest.raises(ValidationError):
        LevelChange.trusted(Side.BUY, Decimal("0.5"), Decimal(1)).size = Decimal(2)  # type: ignore[misc]
