"""Secrets never reach logs, reprs, or anything we serialise (scanned, with every logger at DEBUG)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from pm_exec_harness import CONDITION, TRADER_KEY, address_of, request, start_loopback
from pydantic import SecretStr

from protocols import Side
from venues.live import LiveTradingRefused, VenueSettings, make_venue
from venues.polymarket.auth import (
    ENV_API_KEY,
    ENV_API_PASSPHRASE,
    ENV_API_SECRET,
    ENV_FUNDER,
    ENV_PRIVATE_KEY,
    ApiCredentials,
    PolymarketCredentials,
    credentials_from_env,
)
from venues.polymarket.execution import JsonlIdStore, PolymarketExecution, PolymarketExecutionConfig
from venues.polymarket.sdk_env import loopback_environment
from venues.polymarket.user_ws import stream_for_execution


def needles(*secrets: str) -> list[str]:
    out = []
    for s in secrets:
        out += [s, s.removeprefix("0x"), s.removeprefix("0x").upper()]
    return [n for n in out if len(n) >= 8]


def assert_clean(text: str, secrets: list[str]) -> None:
    for s in secrets:
        assert s not in text, f"a secret leaked: ...{s[-6:]}"


def test_credentials_repr_str_and_json_are_redacted() -> None:
    env = {
        ENV_PRIVATE_KEY: TRADER_KEY,
        ENV_API_KEY: "key-1234567890",
        ENV_API_SECRET: "c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
        ENV_API_PASSPHRASE: "pass-phrase-0987",
        ENV_FUNDER: address_of(TRADER_KEY),
    }
    creds = credentials_from_env(env)
    secrets = needles(TRADER_KEY, "key-1234567890", "c2VjcmV0LXNlY3JldC1zZWNyZXQ=", "pass-phrase-0987")
    for text in (
        repr(creds),
        str(creds),
        creds.model_dump_json(),
        json.dumps(creds.model_dump(mode="json")),
        f"{creds}",
        repr(creds.api),
        repr(creds.private_key),
        f"{creds.private_key}",
    ):
        assert_clean(text, secrets)
    assert creds.private_key.get_secret_value() == TRADER_KEY  # still usable by the signer


def test_refusals_name_variables_never_values() -> None:
    with pytest.raises(LiveTradingRefused) as err:
        make_venue(
            "live",
            VenueSettings(live=True, i_understand_real_money=True),
            environ={ENV_PRIVATE_KEY: TRADER_KEY, ENV_API_KEY: "key-1234567890"},
        )
    assert ENV_API_SECRET in str(err.value)
    assert_clean(str(err.value), needles(TRADER_KEY, "key-1234567890"))


def test_a_whole_trading_session_leaks_no_secret(caplog: pytest.LogCaptureFixture, tmp_path) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("", "polymarket", "httpx", "httpcore", "aiohttp", "venues", "asyncio"):
        logging.getLogger(name).setLevel(logging.DEBUG)

    async def run() -> list[str]:
        lb = await start_loopback()
        texts: list[str] = []
        try:
            env = loopback_environment(lb.base_url, lb.ws_url)
            creds = PolymarketCredentials(private_key=SecretStr(TRADER_KEY), funder=address_of(TRADER_KEY))
            store = JsonlIdStore(tmp_path / "ids.jsonl")
            ex = await PolymarketExecution.connect(
                creds, environment=env, config=PolymarketExecutionConfig(account="trader"), id_store=store
            )
            api = ex.api_credentials()
            stream = stream_for_execution(ex, f"{lb.ws_url}/user", markets=[CONDITION])
            got: list = []
            stream.set_sink(got.append)
            await stream.start()
            await asyncio.wait_for(stream.connected.wait(), 10)
            lb.maker("mm", Side.SELL, "0.55", "20")
            events = [
                await ex.place_order(request("s-1", Side.BUY, "0.55", "10")),
                await ex.place_order(request("s-2", Side.BUY, "0.40", "10")),
                await ex.cancel_order("s-2"),
            ]
            # reconnect with the derived creds given explicitly (the validation path)
            creds2 = PolymarketCredentials(
                private_key=SecretStr(TRADER_KEY),
                api=ApiCredentials(
                    key=SecretStr(api.key), secret=SecretStr(api.secret), passphrase=SecretStr(api.passphrase)
                ),
                funder=address_of(TRADER_KEY),
            )
            ex2 = await PolymarketExecution.connect(creds2, environment=env)
            await ex2.open_orders()
            fills = await ex.trades()
            texts += [json.dumps([e.model_dump(mode="json") for e in events + fills + got])]
            texts += [repr(x) for x in (ex, ex2, stream, creds, creds2, api, stream.decoder)]
            texts += [str(x) for x in (ex, stream, creds2)]
            texts += [(tmp_path / "ids.jsonl").read_text()]
            texts.append("|".join(needles(TRADER_KEY, api.key, api.secret, api.passphrase)))  # the needles
            await stream.close()
            await ex.close()
            await ex2.close()
        finally:
            await lb.close()
        return texts

    texts = asyncio.run(run())
    secrets = texts.pop().split("|")
    # positive control: the HTTP traffic itself was captured, so a leak there would be seen
    assert "127.0.0.1" in caplog.text, "no request was logged: the scan would prove nothing"
    assert_clean(caplog.text, secrets)
    for r in caplog.records:
        assert_clean(repr(r.args), secrets)
    for t in texts:
        assert_clean(t, secrets)


def test_a_malformed_private_key_is_refused_without_quoting_it() -> None:
    from venues.polymarket.execution import InvalidCredentials

    bad = "0x" + "zz" * 32

    async def run() -> None:
        env = loopback_environment("http://127.0.0.1:9", "ws://127.0.0.1:9/ws")
        creds = PolymarketCredentials(private_key=SecretStr(bad), funder=address_of(TRADER_KEY))
        await PolymarketExecution.connect(creds, environment=env)

    with pytest.raises(InvalidCredentials) as err:
        asyncio.run(run())
    assert_clean(str(err.value), needles(bad))
