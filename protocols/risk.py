"""Risk: the officer's verdict on each intent, its events, and the trading state it publishes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from protocols.base import Payload
from protocols.decision import OrderIntent
from protocols.enums import ReasonCode, RiskAction, TradingState
from protocols.numbers import TimeNs


class RiskDecision(Payload):
    """APPROVED or RESIZED carry the intent to execute; REJECTED carries at least one reason."""

    kind: Literal["risk_decision"] = "risk_decision"

    time_ns: TimeNs
    intent_id: str = Field(min_length=1)
    action: RiskAction
    intent: OrderIntent
    reasons: tuple[ReasonCode, ...] = ()
    detail: str = ""

    @model_validator(mode="after")
    def _reasons(self) -> RiskDecision:
        if self.action is not RiskAction.APPROVED and not self.reasons:
            raise ValueError("reasons: a RESIZED or REJECTED decision needs a reason code")
        return self


class RiskEvent(Payload):
    kind: Literal["risk_event"] = "risk_event"

    time_ns: TimeNs
    code: ReasonCode
    severity: Literal["INFO", "WARN", "CRITICAL"] = "WARN"
    detail: str = ""
    state: TradingState = TradingState.ACTIVE


class TradingStateChange(Payload):
    kind: Literal["trading_state"] = "trading_state"

    time_ns: TimeNs
    state: TradingState
    previous: TradingState
    reason: ReasonCode | None = None
    detail: str = ""
