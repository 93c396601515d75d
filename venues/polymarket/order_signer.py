"""Signing V2 orders at the SDK's own cost or less, byte for byte as the SDK signs them.

Why: the SDK's ``create_limit_order``/``create_market_order`` end in ``_sign_order``, which builds
the EIP-712 typed data as nested dicts and has ``eth_account`` re-derive the type hashes and the
domain separator and ABI-encode every field generically, for every order. We then needed the
order hash (our idempotency key, written ahead before the send) and computed it the same slow way
twice more, plus a signature recovery to learn which exchange contract the SDK had signed for.

Here what does not change per order is computed once: the ``Order`` type hash, each domain
separator (per chain, exchange contract and protocol version), the 32-byte words of our own
maker/signer addresses, and the signing key object (libsecp256k1 via coincurve, the backend
``eth_account`` itself uses). Per order: eleven 32-byte words, two keccaks, one RFC 6979 signature.
The digest we sign *is* the order hash, for the contract in the SDK's own draft, so no recovery
is needed. The SDK still does everything else (argument checks, market metadata, tick and
rounding rules, salt, timestamp): we call its draft and unsigned-order builders, and only replace
typed-data hashing and signing. ``tests/test_pm_order_signer.py`` holds our signature equal to the
SDK's for the same order; any signer we cannot reproduce (a deposit wallet's ERC-1271 wrapping, a
session signer, a non-local account) is left to the SDK's ``_sign_order``.
"""

from __future__ import annotations

from typing import Any

from coincurve import PrivateKey
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from polymarket._internal.actions.orders.orders import create_signed_order, create_unsigned_order
from polymarket._internal.actions.orders.types import OrderDraft, UnsignedOrder
from polymarket.models.clob.orders import SignedOrder
from polymarket.types import HexString

#: The SDK's own type strings (``polymarket._internal.actions.orders.typed_data``), restated so a
#: change there is caught by the equality test rather than silently followed.
ORDER_TYPE = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,uint256 makerAmount,"
    "uint256 takerAmount,uint8 side,uint8 signatureType,uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
DOMAIN_NAME = "Polymarket CTF Exchange"
SIG_1271 = 3

ORDER_TYPE_HASH = keccak(ORDER_TYPE.encode())
_DOMAIN_TYPE_HASH = keccak(DOMAIN_TYPE.encode())
_NAME_HASH = keccak(DOMAIN_NAME.encode())

_DOMAINS: dict[tuple[int, str, str], bytes] = {}
_ADDR_WORDS: dict[str, bytes] = {}
_B32_WORDS: dict[str, bytes] = {}


def _u256(v: int) -> bytes:
    return v.to_bytes(32, "big")  # OverflowError (and so no signature) for a negative or huge value


def _address_word(addr: str) -> bytes:
    w = _ADDR_WORDS.get(addr)
    if w is None:
        raw = bytes.fromhex(addr[2:] if addr[:2] in ("0x", "0X") else addr)
        if len(raw) != 20:
            raise ValueError(f"not a 20-byte address: {addr!r}")
        w = raw.rjust(32, b"\x00")
        if len(_ADDR_WORDS) < 10_000:
            _ADDR_WORDS[addr] = w
    return w


def _bytes32_word(value: str) -> bytes:
    w = _B32_WORDS.get(value)
    if w is None:
        w = bytes.fromhex(value[2:] if value[:2] in ("0x", "0X") else value)
        if len(w) != 32:
            raise ValueError(f"not a bytes32: {value!r}")
        if len(_B32_WORDS) < 10_000:
            _B32_WORDS[value] = w
    return w


def domain_separator(chain_id: int, exchange: str, protocol_version: str) -> bytes:
    """The exchange's EIP-712 domain separator (cached per chain, contract and version)."""
    key = (chain_id, exchange.lower(), protocol_version)
    d = _DOMAINS.get(key)
    if d is None:
        version_hash = keccak(protocol_version.encode())
        d = keccak(_DOMAIN_TYPE_HASH + _NAME_HASH + version_hash + _u256(chain_id) + _address_word(exchange))
        _DOMAINS[key] = d
    return d


def order_digest(
    *,
    chain_id: int,
    exchange: str,
    protocol_version: str,
    salt: int,
    maker: str,
    signer: str,
    token_id: int,
    maker_amount: int,
    taker_amount: int,
    side: str,
    signature_type: int,
    timestamp: int,
    metadata: str,
    builder: str,
) -> bytes:
    """The EIP-712 digest of a plain ``Order``: what is signed, and the exchange's order hash."""
    struct = keccak(
        ORDER_TYPE_HASH
        + _u256(salt)
        + _address_word(maker)
        + _address_word(signer)
        + _u256(token_id)
        + _u256(maker_amount)
        + _u256(taker_amount)
        + _u256(0 if side == "BUY" else 1)
        + _u256(signature_type)
        + _u256(timestamp)
        + _bytes32_word(metadata)
        + _bytes32_word(builder)
    )
    return keccak(b"\x19\x01" + domain_separator(chain_id, exchange, protocol_version) + struct)


def unsigned_digest(order: UnsignedOrder) -> bytes:
    return order_digest(
        chain_id=order.chain_id,
        exchange=order.exchange_address,
        protocol_version=order.protocol_version,
        salt=order.salt,
        maker=order.maker,
        signer=order.signer,
        token_id=int(order.token_id),
        maker_amount=order.maker_amount,
        taker_amount=order.taker_amount,
        side=order.side,
        signature_type=order.signature_type,
        timestamp=order.timestamp,
        metadata=order.metadata,
        builder=order.builder,
    )


class OrderSigner:
    """The SDK's ``_sign_order`` for one client, with the key and the domains cached.

    ``sign`` returns the signed order and its hash, or None when this signer cannot reproduce the
    SDK's signature (then the caller uses the SDK's own path). The key never leaves the coincurve
    object; the repr names only the address.
    """

    __slots__ = ("_ctx", "_key", "address")

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx
        signer = getattr(ctx, "signer", None)
        self._key: PrivateKey | None = None
        self.address = str(getattr(signer, "address", ""))
        if isinstance(signer, LocalAccount) and getattr(ctx, "signer_type", "OWNER") == "OWNER":
            self._key = PrivateKey(bytes(signer.key))

    @property
    def fast(self) -> bool:
        return self._key is not None

    def sign_unsigned(self, unsigned: UnsignedOrder, *, post_only: bool) -> tuple[SignedOrder, str] | None:
        if self._key is None or unsigned.signature_type == SIG_1271:
            return None
        digest = unsigned_digest(unsigned)
        rsv = self._key.sign_recoverable(digest, hasher=None)  # r ‖ s ‖ recovery id, RFC 6979 nonce
        sig = HexString("0x" + rsv[:64].hex() + f"{rsv[64] + 27:02x}")
        return create_signed_order(unsigned, sig, post_only=post_only), "0x" + digest.hex()

    def sign(self, draft: OrderDraft, *, post_only: bool) -> tuple[SignedOrder, str] | None:
        """Sign a draft as the SDK would (same unsigned order: its salt, its clock, its signer)."""
        if self._key is None:
            return None
        unsigned = create_unsigned_order(draft, wallet=self._ctx.wallet, wallet_type=self._ctx.wallet_type)
        return self.sign_unsigned(unsigned, post_only=post_only)

    def __repr__(self) -> str:
        return f"OrderSigner(address={self.address!r}, fast={self.fast})"


__all__ = ["ORDER_TYPE", "ORDER_TYPE_HASH", "OrderSigner", "domain_separator", "order_digest", "unsigned_digest"]
