"""Our cached order signer signs every V2 order byte for byte as the SDK does, and its digest is
the order hash the exchange (and our write-ahead) knows."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from polymarket._internal.actions.orders import orders as sdk_orders
from polymarket._internal.actions.orders.typed_data import build_order_typed_data
from polymarket._internal.actions.orders.types import BYTES32_ZERO, OrderDraft, UnsignedOrder
from polymarket._internal.environment import PRODUCTION_CONFIG
from polymarket._internal.protocol import is_v2_position_id
from polymarket.clients.async_secure import AsyncSecureClient

from venues.polymarket.order_signer import OrderSigner, unsigned_digest
from venues.polymarket.signing import WireOrder, order_hash, recover_order_signer

KEY = "0x" + "4c" * 32
ACCOUNT = Account.from_key(KEY)
FUNDER = "0x" + "7a" * 20
V1_TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
EXCHANGES = [PRODUCTION_CONFIG.standard_exchange, PRODUCTION_CONFIG.neg_risk_exchange, PRODUCTION_CONFIG.exchange_v3]

b32 = st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())


@st.composite
def unsigned_orders(draw: st.DrawFn) -> UnsignedOrder:
    sig_type = draw(st.sampled_from([0, 1, 2]))
    token = draw(st.one_of(st.just(V1_TOKEN), st.integers(1, 2**256 - 1).map(str)))
    return UnsignedOrder(
        chain_id=draw(st.sampled_from([137, 80002])),
        builder=draw(st.one_of(st.just(BYTES32_ZERO), b32)),  # type: ignore[arg-type]
        exchange_address=draw(st.sampled_from(EXCHANGES)),  # type: ignore[arg-type]
        expiration=draw(st.sampled_from([0, 1_900_000_000])),
        maker=ACCOUNT.address if sig_type == 0 else FUNDER,  # type: ignore[arg-type]
        maker_amount=draw(st.integers(1, 10**15)),
        metadata=draw(st.one_of(st.just(BYTES32_ZERO), b32)),  # type: ignore[arg-type]
        order_type=draw(st.sampled_from(["GTC", "GTD", "FOK", "FAK"])),
        salt=draw(st.integers(0, 2**53 - 1)),
        side=draw(st.sampled_from(["BUY", "SELL"])),
        signature_type=sig_type,
        signer=ACCOUNT.address,  # type: ignore[arg-type]
        taker_amount=draw(st.integers(1, 10**15)),
        timestamp=draw(st.integers(1_700_000_000_000, 2_000_000_000_000)),
        token_id=token,  # type: ignore[arg-type]
        protocol_version="3" if is_v2_position_id(token) else "2",  # as the SDK's create_unsigned_order
    )


def _ctx(wallet_type: str = "EOA", signer_type: str = "OWNER") -> Any:
    wallet = ACCOUNT.address if wallet_type == "EOA" else FUNDER
    return SimpleNamespace(wallet=wallet, wallet_type=wallet_type, signer=ACCOUNT, signer_type=signer_type)


@settings(max_examples=150, deadline=None)
@given(u=unsigned_orders(), post_only=st.booleans())
def test_our_signature_and_digest_equal_eth_accounts_over_the_sdks_typed_data(
    u: UnsignedOrder, post_only: bool
) -> None:
    typed = build_order_typed_data(u)
    signable = encode_typed_data(full_message=typed)
    want_digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert unsigned_digest(u) == want_digest
    want_sig = ACCOUNT.sign_typed_data(full_message=typed).signature.hex()
    result = OrderSigner(_ctx()).sign_unsigned(u, post_only=post_only)
    assert result is not None
    signed, h = result
    assert signed.signature == (want_sig if want_sig.startswith("0x") else "0x" + want_sig)
    assert h == "0x" + want_digest.hex()
    # and it is the hash the loopback exchange computes from the posted order, which recovers to us
    wire = WireOrder.from_signed(signed)
    assert order_hash(wire, u.chain_id, u.exchange_address) == h
    assert recover_order_signer(wire, u.chain_id, u.exchange_address) == ACCOUNT.address


@pytest.mark.parametrize("wallet_type", ["EOA", "POLY_PROXY", "GNOSIS_SAFE"])
@pytest.mark.parametrize("side", ["BUY", "SELL"])
async def test_signing_a_draft_gives_the_same_signed_order_as_the_sdks_own_sign_order(
    wallet_type: str, side: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sdk_orders, "_generate_salt", lambda: 123456789)
    monkeypatch.setattr(sdk_orders, "_current_timestamp_ms", lambda: 1_790_000_000_123)
    draft = OrderDraft(
        chain_id=137,
        exchange_address=PRODUCTION_CONFIG.standard_exchange,  # type: ignore[arg-type]
        expiration=0,
        funder_address=_ctx(wallet_type).wallet,
        offered_amount=4_000_000,
        order_type="GTC",
        side=side,  # type: ignore[arg-type]
        signer=ACCOUNT.address,  # type: ignore[arg-type]
        requested_amount=10_000_000,
        asset_id=V1_TOKEN,  # type: ignore[arg-type]
    )
    ctx = _ctx(wallet_type)
    sdk = await AsyncSecureClient._sign_order(SimpleNamespace(_ctx=ctx), draft, post_only=True)  # type: ignore[arg-type]
    result = OrderSigner(ctx).sign(draft, post_only=True)
    assert result is not None
    ours, h = result
    assert ours == sdk
    assert repr(ours) == repr(sdk) and h.startswith("0x") and len(h) == 66


def test_signers_we_cannot_reproduce_are_left_to_the_sdk_and_the_key_stays_out_of_the_repr() -> None:
    session = OrderSigner(_ctx(signer_type="SESSION_KEY"))
    assert not session.fast
    remote = OrderSigner(SimpleNamespace(signer=SimpleNamespace(address="0x" + "11" * 20), signer_type="OWNER"))
    assert not remote.fast
    signer = OrderSigner(_ctx())
    assert signer.fast and "4c4c" not in repr(signer) and ACCOUNT.address in repr(signer)
    deposit = UnsignedOrder(
        chain_id=137, builder=BYTES32_ZERO, exchange_address=EXCHANGES[0], expiration=0,  # type: ignore[arg-type]
        maker=FUNDER, maker_amount=1, metadata=BYTES32_ZERO, order_type="GTC", salt=1, side="BUY",  # type: ignore[arg-type]
        signature_type=3, signer=FUNDER, taker_amount=1, timestamp=1, token_id=V1_TOKEN,  # type: ignore[arg-type]
    )
    assert signer.sign_unsigned(deposit, post_only=False) is None  # ERC-1271 wrapping: the SDK's job
