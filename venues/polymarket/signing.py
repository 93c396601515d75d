"""Order hashing and EIP-712 signature recovery, on the SDK's own type definitions.

Why: the venue has no idempotency key for order posts. The one stable name an order has before
the venue answers is the EIP-712 hash of the signed order (the exchange's ``hashOrder``, and the
``orderID`` the CLOB returns). The execution client computes it before sending so an order whose
submit outcome is unknown can be found again instead of being sent twice; the loopback server
computes the same hash and checks that the signature recovers to the order's signer.

The typed data comes from ``polymarket._internal.actions.orders.typed_data`` so a change of
domain or struct in an SDK upgrade shows up here (and in ``tests/test_pm_exec_sdk_env.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from polymarket._internal.actions.orders.context import resolve_order_exchange_address
from polymarket._internal.actions.orders.typed_data import build_order_typed_data
from polymarket._internal.actions.orders.types import UnsignedOrder
from polymarket._internal.environment import EnvironmentConfig
from polymarket._internal.protocol import is_v2_position_id
from polymarket.models.clob.orders import SignedOrder

SIG_EOA, SIG_PROXY, SIG_SAFE, SIG_1271 = 0, 1, 2, 3


class OrderSignatureError(ValueError):
    """The posted order is malformed or its signature does not recover to its signer."""


@dataclass(frozen=True, slots=True)
class WireOrder:
    """The signed order fields exactly as ``POST /order`` carries them (amounts ×10⁶)."""

    salt: int
    maker: str
    signer: str
    token_id: str
    maker_amount: int
    taker_amount: int
    side: str  # "BUY" | "SELL"
    signature_type: int
    timestamp: int
    metadata: str
    builder: str
    expiration: int
    signature: str

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> WireOrder:
        try:
            side = str(raw["side"]).upper()
            if side not in ("BUY", "SELL"):
                raise OrderSignatureError(f"invalid side {raw['side']!r}")
            return cls(
                salt=int(raw["salt"]),
                maker=str(raw["maker"]),
                signer=str(raw["signer"]),
                token_id=str(raw["tokenId"]),
                maker_amount=int(str(raw["makerAmount"])),
                taker_amount=int(str(raw["takerAmount"])),
                side=side,
                signature_type=int(raw["signatureType"]),
                timestamp=int(str(raw["timestamp"])),
                metadata=str(raw["metadata"]),
                builder=str(raw["builder"]),
                expiration=int(str(raw.get("expiration", "0") or "0")),
                signature=str(raw["signature"]),
            )
        except OrderSignatureError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise OrderSignatureError(f"invalid order payload: {exc}") from exc

    @classmethod
    def from_signed(cls, order: SignedOrder) -> WireOrder:
        return cls(
            salt=order.salt,
            maker=order.maker,
            signer=order.signer,
            token_id=str(order.token_id),
            maker_amount=order.maker_amount,
            taker_amount=order.taker_amount,
            side=order.side,
            signature_type=order.signature_type,
            timestamp=order.timestamp,
            metadata=order.metadata,
            builder=order.builder,
            expiration=order.expiration,
            signature=order.signature,
        )


def exchange_address(config: EnvironmentConfig, token_id: str, neg_risk: bool) -> str:
    """The verifying contract an order for ``token_id`` is signed against."""
    return str(resolve_order_exchange_address(config, asset_id=token_id, neg_risk=neg_risk))


def _unsigned(order: WireOrder, chain_id: int, exchange: str) -> UnsignedOrder:
    return UnsignedOrder(
        chain_id=chain_id,
        builder=order.builder,  # type: ignore[arg-type]
        exchange_address=exchange,  # type: ignore[arg-type]
        expiration=order.expiration,
        maker=order.maker,  # type: ignore[arg-type]
        maker_amount=order.maker_amount,
        metadata=order.metadata,  # type: ignore[arg-type]
        order_type="GTC",
        salt=order.salt,
        side=order.side,  # type: ignore[arg-type]
        signature_type=order.signature_type,
        signer=order.signer,  # type: ignore[arg-type]
        taker_amount=order.taker_amount,
        timestamp=order.timestamp,
        token_id=order.token_id,  # type: ignore[arg-type]
        protocol_version="3" if is_v2_position_id(order.token_id) else "2",
    )


def order_typed_data(order: WireOrder, chain_id: int, exchange: str) -> dict[str, Any]:
    """The plain ``Order`` typed data under the exchange domain (also for 1271 wallets)."""
    typed = build_order_typed_data(_unsigned(order, chain_id, exchange))
    if typed["primaryType"] == "Order":
        return typed
    # A deposit-wallet (1271) order is signed as TypedDataSign{contents: Order}; its hash as the
    # exchange knows it is still the Order's.
    types = {k: v for k, v in typed["types"].items() if k != "TypedDataSign"}
    return {
        "types": types,
        "primaryType": "Order",
        "domain": typed["domain"],
        "message": typed["message"]["contents"],
    }


def order_hash(order: WireOrder, chain_id: int, exchange: str) -> str:
    """``0x``-hex EIP-712 digest of the order: the exchange's order hash and the CLOB order id."""
    signable = encode_typed_data(full_message=order_typed_data(order, chain_id, exchange))
    digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
    return "0x" + digest.hex()


def recover_order_signer(order: WireOrder, chain_id: int, exchange: str) -> str:
    """Address that produced ``order.signature`` over the order (EOA/proxy/Safe signatures)."""
    if order.signature_type == SIG_1271:
        raise OrderSignatureError("signature type 3 (ERC-1271) needs an on-chain check")
    signable = encode_typed_data(full_message=order_typed_data(order, chain_id, exchange))
    try:
        return str(Account.recover_message(signable, signature=order.signature))
    except Exception as exc:
        raise OrderSignatureError(f"invalid order signature: {exc}") from exc


def verify_order_signature(order: WireOrder, chain_id: int, exchange: str) -> str:
    """Return the order hash if the signature recovers to ``order.signer``; else raise."""
    if order.signature_type not in (SIG_EOA, SIG_PROXY, SIG_SAFE):
        raise OrderSignatureError(f"unsupported signatureType {order.signature_type}")
    if order.signature_type == SIG_EOA and order.maker.lower() != order.signer.lower():
        raise OrderSignatureError("an EOA order's maker must be its signer")
    recovered = recover_order_signer(order, chain_id, exchange)
    if recovered.lower() != order.signer.lower():
        raise OrderSignatureError("invalid order signature: does not recover to signer")
    return order_hash(order, chain_id, exchange)


def client_order_hash(order: SignedOrder, config: EnvironmentConfig, *, neg_risk: bool) -> str:
    """The hash of an order we signed, found before it is sent.

    The SDK picks the verifying contract from the market's neg-risk flag it fetched; where the
    signature can be recovered locally we confirm which contract it was, so a stale flag of ours
    cannot produce a hash the venue will never report.
    """
    wire = WireOrder.from_signed(order)
    candidates = [exchange_address(config, wire.token_id, neg_risk)]
    for other in (config.standard_exchange, config.neg_risk_exchange, config.exchange_v3):
        if other not in candidates:
            candidates.append(other)
    if wire.signature_type == SIG_1271:
        return order_hash(wire, config.chain_id, candidates[0])
    for exchange in candidates:
        try:
            if recover_order_signer(wire, config.chain_id, exchange).lower() == wire.signer.lower():
                return order_hash(wire, config.chain_id, exchange)
        except OrderSignatureError:
            continue
    raise OrderSignatureError("could not match the order signature to any exchange contract")
