"""Fair value of short crypto up/down markets from a spot reference under Merton jump diffusion.

Where strike and expiry come from (in this order):
- expiry: ``MarketInfo.end_ns`` (markets without one are skipped);
- strike: the config map ``markets[market].strike`` if set; else, if ``markets[market].start_ns``
  is set, the first reference price at or after the window start (the "price to beat" of an Up/Down
  window); else a strike parsed from the question, e.g. "Will BTC be above $97,500 at 12:15 UTC?",
  or else from the slug, e.g. "btc-above-97500-1215" (asset names map to reference symbols through
  ``symbols``).
Symbols match whatever their punctuation: "BTC/USDT" (ccxt) and "BTCUSDT" (the simulation) are one.
Reference prices older than ``max_reference_age_ns`` are not traded on: the edge of these
markets is a lead of seconds, and a stale spot is exactly where it turns into adverse selection.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.strategies.base import (
    NS_PER_S,
    MarketView,
    Proposal,
    Strategy,
    StrategyConfig,
    register,
    take_best_side,
)
from agents.strategies.pricing import DAYS_PER_YEAR, merton_up_probability, to_prob, years_between
from protocols import MarketInfo, Payload, ReferencePrice, TimeInForce, TopOfBook


class CryptoMarketSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(min_length=1)
    strike: Decimal | None = Field(default=None, gt=0)
    start_ns: int | None = None


def _default_symbols() -> dict[str, str]:
    return {
        "BTC": "BTC/USDT",
        "BITCOIN": "BTC/USDT",
        "ETH": "ETH/USDT",
        "ETHEREUM": "ETH/USDT",
        "SOL": "SOL/USDT",
        "SOLANA": "SOL/USDT",
        "XRP": "XRP/USDT",
    }


class CryptoFairValueConfig(StrategyConfig):
    markets: dict[str, CryptoMarketSpec] = Field(default_factory=dict)
    symbols: dict[str, str] = Field(default_factory=_default_symbols)
    parse_questions: bool = True
    sigma: float = Field(default=0.6, ge=0, allow_inf_nan=False)
    """Annualised (365-day) diffusion volatility."""
    jumps_per_day: float = Field(default=0.07, ge=0, allow_inf_nan=False)
    """Jump intensity λ in jumps per day (the unit of the simulation's ``ReferenceSpec``)."""
    jump_mean: float = Field(default=0.0, allow_inf_nan=False)
    jump_std: float = Field(default=0.01, ge=0, allow_inf_nan=False)
    drift: float = Field(default=0.0, allow_inf_nan=False)
    max_reference_age_ns: int = Field(default=5 * NS_PER_S, gt=0)
    min_time_to_expiry_ns: int = Field(default=NS_PER_S, ge=0)
    tif: Literal[TimeInForce.FOK, TimeInForce.FAK] = TimeInForce.FAK
    ttl_ns: int = Field(default=3 * NS_PER_S, gt=0)


_ABOVE = re.compile(r"\b(?:above|over)\s+\$?\s*(\d[\d,]*(?:\.\d+)?)", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]+")


def same_symbol(a: str, b: str) -> bool:
    """"BTC/USDT", "BTCUSDT" and "btc_usdt" name the same pair (exchanges and feeds disagree)."""
    return _norm(a) == _norm(b)


def _norm(symbol: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", symbol.upper())


def parse_strike(question: str, symbols: dict[str, str]) -> tuple[str, Decimal] | None:
    """(symbol, strike) from "Will <ASSET> be above $<K> ..." questions, else None."""
    m = _ABOVE.search(question)
    if m is None:
        return None
    for word in _WORD.findall(question[: m.start()]):
        sym = symbols.get(word.upper())
        if sym is not None:
            return sym, Decimal(m.group(1).replace(",", ""))
    return None


@register
class CryptoFairValue(Strategy[CryptoFairValueConfig]):
    name = "crypto_fair_value"
    config_model = CryptoFairValueConfig
    handles = frozenset({MarketInfo, ReferencePrice, TopOfBook})

    def __init__(self, config: CryptoFairValueConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.specs: dict[str, tuple[str, Decimal | None, int | None]] = {
            m: (s.symbol, s.strike, s.start_ns) for m, s in self.config.markets.items()
        }
        self.captured: dict[str, Decimal] = {}
        self.refs: dict[str, ReferencePrice] = {}  # latest per normalised symbol
        self.fair: dict[str, Decimal] = {}

    def _spec(self, info: MarketInfo) -> tuple[str, Decimal] | None:
        spec = self.specs.get(info.market)
        if spec is not None:
            sym, strike, _ = spec
            strike = strike if strike is not None else self.captured.get(info.market)
            return None if strike is None else (sym, strike)
        return None

    def on_payload(self, payload: Payload, view: MarketView) -> list[Proposal]:
        if isinstance(payload, MarketInfo):
            if payload.market not in self.specs and self.config.parse_questions:
                parsed = parse_strike(payload.question, self.config.symbols) or parse_strike(
                    payload.slug.replace("-", " "), self.config.symbols
                )
                if parsed is not None:
                    self.specs[payload.market] = (parsed[0], parsed[1], None)
            return []
        if isinstance(payload, ReferencePrice):
            self.refs[_norm(payload.symbol)] = payload
            out: list[Proposal] = []
            for market, (sym, strike, start) in sorted(self.specs.items()):
                if not same_symbol(sym, payload.symbol):
                    continue
                if strike is None and start is not None and payload.time_ns >= start and market not in self.captured:
                    self.captured[market] = payload.price
                out.extend(self._evaluate(market, view))
            return out
        if isinstance(payload, TopOfBook) and payload.market in self.specs:
            return self._evaluate(payload.market, view)
        return []

    def probability_up(self, spot: Decimal, strike: Decimal, now_ns: int, end_ns: int) -> Decimal:
        c = self.config
        q = merton_up_probability(
            float(spot), float(strike), years_between(now_ns, end_ns), c.sigma,
            c.jumps_per_day * DAYS_PER_YEAR, c.jump_mean, c.jump_std, c.drift,
        )
        return to_prob(q)

    def _evaluate(self, market: str, view: MarketView) -> list[Proposal]:
        info = view.info(market)
        if info is None or info.end_ns is None or not view.tradable(market):
            return []
        spec = self._spec(info)
        if spec is None:
            return []
        sym, strike = spec
        ref = self.refs.get(_norm(sym))
        now = view.now_ns
        if ref is None or now - ref.time_ns > self.config.max_reference_age_ns:
            return []
        if info.end_ns - now < self.config.min_time_to_expiry_ns:
            return []
        q = self.probability_up(ref.price, strike, now, info.end_ns)
        self.fair[market] = q
        return take_best_side(
            strategy=self.name, info=info, q_yes=q, view=view, cfg=self.config, tif=self.config.tif,
            rationale=f"{sym} {ref.price} vs strike {strike}: P(up)={q}",
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "captured": {m: str(k) for m, k in self.captured.items()},
            "parsed": {m: [s, str(k)] for m, (s, k, st) in self.specs.items() if m not in self.config.markets and k},
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.captured = {m: Decimal(k) for m, k in state.get("captured", {}).items()}
        for m, (s, k) in state.get("parsed", {}).items():
            self.specs.setdefault(m, (s, Decimal(k), None))

    def status(self) -> dict[str, Any]:
        return {"markets": len(self.specs), "fair": {m: str(q) for m, q in sorted(self.fair.items())}}
