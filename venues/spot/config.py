"""Configuration of the spot reference-price feed (ccxt)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SpotFeedConfig(BaseModel):
    """Which exchange, which transport, and (for tests or a proxy) where its URLs point.

    ``rest_base`` / ``ws_base`` rebase every URL of the exchange's ``urls['api']``: the origin is
    replaced and the path kept, so ``https://api.binance.com/api/v3`` becomes
    ``<rest_base>/api/v3``. ccxt reads its URLs from that dict on every call, which is what makes
    the override reliable.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange: str = Field(default="binance", min_length=1)
    mode: Literal["auto", "watch", "poll"] = "auto"
    poll_interval_s: float = Field(default=2.0, gt=0)
    retry_initial_s: float = Field(default=0.5, ge=0)
    retry_max_s: float = Field(default=30.0, gt=0)
    rest_base: str | None = None
    ws_base: str | None = None
    #: extra ccxt constructor options; binance gets ``fetchMarkets: spot`` by default
    options: dict[str, Any] = Field(default_factory=dict)
    timeout_ms: int = Field(default=10_000, ge=100)

    @field_validator("rest_base")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL, got {v!r}")
        return v.rstrip("/") if v else v

    @field_validator("ws_base")
    @classmethod
    def _ws(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("ws://", "wss://")):
            raise ValueError(f"must be a ws(s) URL, got {v!r}")
        return v.rstrip("/") if v else v
