"""The ONE place that points the official SDK somewhere other than production.

``polymarket-client`` ships only ``PRODUCTION``; its ``Environment`` can be re-targeted through
``polymarket._internal.environment.with_environment_config`` — a private API. Everything in this
project that needs a non-production SDK environment calls ``loopback_environment`` and nothing
else, and ``tests/test_pm_exec_sdk_env.py`` fails loudly if an SDK upgrade moves or reshapes it.

Every URL is replaced (relayer, RPC, RFQ and perps included), so a test cannot reach the internet
through an endpoint we forgot; the chain id and contract addresses stay production's, because
orders are signed against them and the loopback verifies exactly those signatures.
"""

from __future__ import annotations

import dataclasses

from polymarket import version as _sdk_version
from polymarket._internal.environment import (
    PRODUCTION_CONFIG,
    EnvironmentConfig,
    get_environment_config,
    with_environment_config,
)
from polymarket.environments import PRODUCTION, Environment

#: The SDK version this wrapper was written against (pyproject pins it exactly).
PINNED_SDK_VERSION = "0.14.0"


def sdk_version() -> str:
    return str(getattr(_sdk_version, "__version__", getattr(_sdk_version, "VERSION", "unknown")))


def loopback_environment(
    base_url: str,
    ws_url: str,
    *,
    gamma_url: str | None = None,
    data_url: str | None = None,
) -> Environment:
    """An SDK ``Environment`` whose every endpoint is on the loopback server.

    ``base_url`` serves the CLOB REST API (e.g. ``http://127.0.0.1:8080``); ``ws_url`` is the
    WebSocket prefix, with ``/market`` and ``/user`` appended like production's ``/ws``.
    """
    base = base_url.rstrip("/")
    ws = ws_url.rstrip("/")
    config: EnvironmentConfig = dataclasses.replace(
        PRODUCTION_CONFIG,
        clob_url=base,
        clob_market_ws_url=f"{ws}/market",
        clob_user_ws_url=f"{ws}/user",
        gamma_url=(gamma_url or base).rstrip("/"),
        data_url=(data_url or base).rstrip("/"),
        relayer_url=base,
        rfq_url=base,
        rtds_ws_url=f"{ws}/rtds",
        sports_ws_url=f"{ws}/sports",
        rpc_url=base,
        rfq_quoter_ws_url=f"{ws}/rfq",
        builder_gateway_url=base,
        collateral_return_url=base,
        perps_url=base,
        perps_ws_url=f"{ws}/perps",
        realtime_ws_url=f"{ws}/realtime",
    )
    return with_environment_config(PRODUCTION, config=config)


def environment_config(environment: Environment) -> EnvironmentConfig:
    """The resolved configuration (URLs, chain id, exchange contracts) of an environment."""
    return get_environment_config(environment)


def production_environment() -> Environment:
    return PRODUCTION
