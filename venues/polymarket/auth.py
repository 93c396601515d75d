"""Credentials from the environment, redacted everywhere, and the CLOB's two auth schemes.

Why a module of its own: the private key and the API secret must never reach a log line, a repr,
the journal or the dashboard. They enter the process in exactly one place (``credentials_from_env``)
and live inside ``pydantic.SecretStr``, whose ``repr``/``str``/JSON are ``'**********'``; only the
signing code calls ``get_secret_value()``.

L1 (an EIP-712 ``ClobAuth`` signature by the wallet key) creates or derives API keys; L2 (an
HMAC-SHA256 over ``timestamp + METHOD + path + body`` keyed by the API secret) authenticates every
private REST call. The loopback server verifies both with the functions here, written from the
protocol description rather than borrowed from the SDK, so a test that passes means the SDK and
an independent implementation agree.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

ENV_PRIVATE_KEY = "POLYAGENTS_PM_PRIVATE_KEY"
ENV_API_KEY = "POLYAGENTS_PM_API_KEY"
ENV_API_SECRET = "POLYAGENTS_PM_API_SECRET"
ENV_API_PASSPHRASE = "POLYAGENTS_PM_API_PASSPHRASE"
ENV_FUNDER = "POLYAGENTS_PM_FUNDER"

L2_HEADERS = ("POLY_ADDRESS", "POLY_SIGNATURE", "POLY_TIMESTAMP", "POLY_API_KEY", "POLY_PASSPHRASE")
L1_HEADERS = ("POLY_ADDRESS", "POLY_SIGNATURE", "POLY_TIMESTAMP", "POLY_NONCE")


class MissingCredentials(Exception):
    """Live trading was asked for but the environment lacks what it needs; ``missing`` names it."""

    def __init__(self, missing: list[str], detail: str = "") -> None:
        self.missing = list(missing)
        text = "missing environment variable(s): " + ", ".join(self.missing)
        super().__init__(f"{text}{'; ' + detail if detail else ''}")


class ApiCredentials(BaseModel):
    """An L2 API key triple. The key itself is redacted too: with the secret it is a login."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: SecretStr
    secret: SecretStr
    passphrase: SecretStr


class PolymarketCredentials(BaseModel):
    """What live execution needs: the signer's key, optional API creds, optional funder wallet.

    Without API creds the SDK derives them with an L1 signature at start. Without a funder the
    SDK acts for the signer's default deposit wallet.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    private_key: SecretStr
    api: ApiCredentials | None = None
    funder: str | None = None


def credentials_from_env(environ: Mapping[str, str] | None = None) -> PolymarketCredentials:
    """Read credentials from the environment; refuse with every missing name at once."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str:
        return env.get(name, "").strip()

    missing: list[str] = []
    key = get(ENV_PRIVATE_KEY)
    if not key:
        missing.append(ENV_PRIVATE_KEY)
    api_values = {n: get(n) for n in (ENV_API_KEY, ENV_API_SECRET, ENV_API_PASSPHRASE)}
    given = [n for n, v in api_values.items() if v]
    if given and len(given) != len(api_values):
        missing.extend(n for n, v in api_values.items() if not v)
    if missing:
        detail = ""
        if given and len(given) != len(api_values):
            detail = "API key, secret and passphrase must be given together (or none, to derive them)"
        raise MissingCredentials(missing, detail)
    api = None
    if given:
        api = ApiCredentials(
            key=SecretStr(api_values[ENV_API_KEY]),
            secret=SecretStr(api_values[ENV_API_SECRET]),
            passphrase=SecretStr(api_values[ENV_API_PASSPHRASE]),
        )
    funder = get(ENV_FUNDER) or None
    return PolymarketCredentials(private_key=SecretStr(key), api=api, funder=funder)


# --------------------------------------------------------------------------------------- L2 HMAC


def _b64_pad(value: str) -> str:
    return value + "=" * ((-len(value)) % 4)


def l2_signature(secret: str, timestamp: str, method: str, path: str, body: str | None) -> str:
    """url-safe base64 HMAC-SHA256 of ``timestamp + METHOD + path + body``.

    ``path`` is without the query string; ``body`` is the exact compact JSON text sent.
    Raises ``ValueError`` for a secret that is not url-safe base64.
    """
    try:
        raw = base64.urlsafe_b64decode(_b64_pad(secret))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("API secret is not url-safe base64") from exc
    message = f"{timestamp}{method.upper()}{path}{body or ''}"
    digest = hmac.new(raw, message.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def l2_headers(
    *, address: str, api: ApiCredentials, timestamp: int, method: str, path: str, body: str | None
) -> dict[str, str]:
    """Headers for one private request (used by our own aiohttp clients, e.g. tests)."""
    return {
        "POLY_ADDRESS": address,
        "POLY_SIGNATURE": l2_signature(api.secret.get_secret_value(), str(timestamp), method, path, body),
        "POLY_TIMESTAMP": str(timestamp),
        "POLY_API_KEY": api.key.get_secret_value(),
        "POLY_PASSPHRASE": api.passphrase.get_secret_value(),
    }


class AuthError(Exception):
    """A request failed authentication; the message is safe to return (it holds no secret)."""


def verify_l2(
    headers: Mapping[str, str],
    *,
    method: str,
    path: str,
    body: str | None,
    lookup: Any,
    now_s: int,
    max_skew_s: int = 300,
) -> str:
    """Check L2 headers; return the API key's owner address or raise ``AuthError``.

    ``lookup(api_key)`` returns ``(address, secret, passphrase)`` or None.
    """
    missing = [h for h in L2_HEADERS if not headers.get(h)]
    if missing:
        raise AuthError(f"missing auth headers: {', '.join(missing)}")
    api_key = headers["POLY_API_KEY"]
    found = lookup(api_key)
    if found is None:
        raise AuthError("Unauthorized/Invalid api key")
    address, secret, passphrase = found
    if not hmac.compare_digest(headers["POLY_PASSPHRASE"], passphrase):
        raise AuthError("Unauthorized/Invalid api key")
    if headers["POLY_ADDRESS"].lower() != address.lower():
        raise AuthError("Unauthorized/Invalid api key: address does not own this key")
    ts = headers["POLY_TIMESTAMP"]
    if not ts.isdigit() or abs(int(ts) - now_s) > max_skew_s:
        raise AuthError("invalid POLY_TIMESTAMP")
    expected = l2_signature(secret, ts, method, path, body)
    if not hmac.compare_digest(expected, headers["POLY_SIGNATURE"]):
        raise AuthError("invalid L2 signature")
    return str(address)


def l1_typed_data(address: str, chain_id: int, timestamp: str, nonce: int) -> dict[str, Any]:
    """The ``ClobAuth`` EIP-712 message an L1 header signs (as the SDK builds it)."""
    from polymarket._internal.l1_auth import build_api_key_auth_typed_data

    data = build_api_key_auth_typed_data(address=address, chain_id=chain_id, timestamp=int(timestamp), nonce=nonce)
    return dict(data)


def verify_l1(headers: Mapping[str, str], *, chain_id: int, now_s: int, max_skew_s: int = 300) -> tuple[str, int]:
    """Check L1 headers; return ``(address, nonce)`` or raise ``AuthError``."""
    from eth_account import Account

    missing = [h for h in L1_HEADERS if not headers.get(h)]
    if missing:
        raise AuthError(f"missing auth headers: {', '.join(missing)}")
    ts, nonce_s, address = headers["POLY_TIMESTAMP"], headers["POLY_NONCE"], headers["POLY_ADDRESS"]
    if not ts.isdigit() or abs(int(ts) - now_s) > max_skew_s:
        raise AuthError("invalid POLY_TIMESTAMP")
    if not nonce_s.isdigit():
        raise AuthError("invalid POLY_NONCE")
    typed = l1_typed_data(address, chain_id, ts, int(nonce_s))
    try:
        from eth_account.messages import encode_typed_data

        recovered = Account.recover_message(encode_typed_data(full_message=typed), signature=headers["POLY_SIGNATURE"])
    except Exception as exc:
        raise AuthError("invalid L1 signature") from exc
    if recovered.lower() != address.lower():
        raise AuthError("invalid L1 signature: signer does not match POLY_ADDRESS")
    return address, int(nonce_s)
