"""Guards the ONE wrapped private SDK API that points the official client at the loopback.

If an SDK upgrade moves ``with_environment_config``, renames a URL field, or changes the order
typed data, these tests fail loudly instead of the live stack silently talking to production.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata

from polymarket._internal.actions.orders.typed_data import build_order_typed_data
from polymarket._internal.environment import PRODUCTION_CONFIG, with_environment_config
from polymarket.environments import PRODUCTION, Environment

from venues.polymarket.sdk_env import PINNED_SDK_VERSION, environment_config, loopback_environment

BASE = "http://127.0.0.1:9"
WS = "ws://127.0.0.1:9/ws"


def test_installed_sdk_is_the_pinned_version() -> None:
    assert importlib.metadata.version("polymarket-client") == PINNED_SDK_VERSION


def test_private_environment_api_still_exists_with_the_expected_shape() -> None:
    assert callable(with_environment_config)
    fields = {f.name for f in dataclasses.fields(PRODUCTION_CONFIG)}
    for name in (
        "clob_url",
        "clob_market_ws_url",
        "clob_user_ws_url",
        "gamma_url",
        "data_url",
        "relayer_url",
        "rpc_url",
        "chain_id",
        "standard_exchange",
        "neg_risk_exchange",
    ):
        assert name in fields, f"SDK EnvironmentConfig lost field {name!r}"


def test_loopback_environment_points_every_url_at_the_loopback() -> None:
    env = loopback_environment(BASE, WS)
    assert isinstance(env, Environment)
    cfg = environment_config(env)
    assert cfg.clob_url == BASE
    assert cfg.clob_user_ws_url == f"{WS}/user"
    assert cfg.clob_market_ws_url == f"{WS}/market"
    urls = {
        f.name: getattr(cfg, f.name)
        for f in dataclasses.fields(cfg)
        if f.name.endswith("_url") and isinstance(getattr(cfg, f.name), str)
    }
    assert urls, "no URL fields found"
    leaking = {k: v for k, v in urls.items() if "127.0.0.1" not in v}
    assert leaking == {}, f"URLs still pointing off the loopback after an SDK upgrade: {leaking}"
    # signing still uses production's chain and contracts (the loopback verifies those)
    assert cfg.chain_id == PRODUCTION_CONFIG.chain_id == 137
    assert cfg.standard_exchange == PRODUCTION_CONFIG.standard_exchange
    # and production itself is untouched
    assert environment_config(PRODUCTION).clob_url == "https://clob.polymarket.com"


def test_order_typed_data_is_still_v2_order_domain() -> None:
    from polymarket._internal.actions.orders.types import BYTES32_ZERO, UnsignedOrder

    order = UnsignedOrder(
        chain_id=137,
        builder=BYTES32_ZERO,
        exchange_address=PRODUCTION_CONFIG.standard_exchange,  # type: ignore[arg-type]
        expiration=0,
        maker="0x" + "11" * 20,
        maker_amount=1,
        metadata=BYTES32_ZERO,  # type: ignore[arg-type]
        order_type="GTC",
        salt=1,
        side="BUY",
        signature_type=0,
        signer="0x" + "11" * 20,  # type: ignore[arg-type]
        taker_amount=2,
        timestamp=1,
        token_id="7" * 77,  # type: ignore[arg-type]
    )
    typed = build_order_typed_data(order)
    assert typed["domain"]["name"] == "Polymarket CTF Exchange"
    assert typed["domain"]["version"] == "2"
    assert [f["name"] for f in typed["types"]["Order"]] == [
        "salt",
        "maker",
        "signer",
        "tokenId",
        "makerAmount",
        "takerAmount",
        "side",
        "signatureType",
        "timestamp",
        "metadata",
        "builder",
    ]
